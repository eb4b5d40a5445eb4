/**
 * The cold site's drill: rebuild the database from the offsite repo alone (repo 2) into a fresh
 * cluster on a new directory and port, to the end of its archive, as if every local node and
 * repo were gone. RTO is the rebuild to the first accepted write; the data-loss window is the
 * gap between the moment the rebuild began (the "disaster") and the newest commit it recovered.
 */
import { rmSync } from 'node:fs'
import type { RecoveryMeasure } from '../../../../core/drill.ts'
import type { AuditLog } from '../../output/audit.ts'
import { restoreNew } from '../restore/new-cluster.ts'
import { prepare } from '../restore/plan.ts'
import { recordOutcome } from '../evidence/ledger.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface ColdDrillResult {
  measure: RecoveryMeasure
  backup: string
  reachedIso: string | null
  dataDir: string
  kept: boolean
  timings: Record<string, number>
}

const OFFSITE_REPO = 2

export async function coldRebuild(site: LocalSitePort, audit: AuditLog, keep: boolean): Promise<ColdDrillResult> {
  const disasterAt = Date.now()
  const options = { target: { kind: 'latest' as const }, repo: OFFSITE_REPO, inPlace: false, dryRun: false }
  const { plan } = await prepare(site, options)
  const report = await restoreNew(site, options, plan, audit)
  await recordOutcome(site, 'restore', { report: { ...report } })
  try {
    const reached = report.reached?.time ? Date.parse(report.reached.time) : NaN
    return {
      measure: {
        what: `cold-site rebuild from repo ${OFFSITE_REPO} alone (${plan.backup.label} + its archive)`,
        against: { kind: 'site', site: 'cold' },
        rtoSeconds: report.timings.untilFirstWriteSeconds ?? NaN,
        rpoSeconds: Number.isFinite(reached) ? Math.max(0, (disasterAt - reached) / 1000) : NaN,
        lostCommits: 0, // the window is the loss the cold site accepts: every commit after `reached`
      },
      backup: plan.backup.label,
      reachedIso: report.reached?.time ?? null,
      dataDir: report.dataDir!,
      kept: keep,
      timings: report.timings,
    }
  } finally {
    if (!keep) {
      await site.pg.stop(report.dataDir!, 'fast').catch(() => {})
      rmSync(report.dataDir!, { recursive: true, force: true })
    }
  }
}
