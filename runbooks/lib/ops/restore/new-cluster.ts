/** Restore into a NEW cluster (the default): new directory, new port; the running site is never touched. */
import { readFileSync } from 'node:fs'
import { type RestorePlan } from '../../../../core/recovery.ts'
import { describeTarget } from '../../../../core/recovery-target.ts'
import type { Conn } from '../../adapters/postgres.ts'
import type { AuditLog } from '../../output/audit.ts'
import { reachedFromLog, verifyTables } from './cluster.ts'
import type { RestoreOptions, RestoreReport } from './plan.ts'
import { restorePromoted } from './scratch-restore.ts'
import { readErasures, reapplyErasures } from '../erasure/erasure.ts'
import { DATABASE, type LocalSitePort } from '../../sites/local-port.ts'

export async function restoreNew(
  site: LocalSitePort,
  o: RestoreOptions,
  plan: RestorePlan,
  audit: AuditLog,
): Promise<RestoreReport> {
  const t0 = Date.now()
  await readErasures(site) // the erasure ledger must be readable before anything is restored: nothing serves without it
  const c = await site.scratch.cluster('restore', { port: o.port, into: o.into, synced: true })
  const checked: Record<string, number> = {}
  let erased = { people: 0, rows: 0 }
  const check = async (restored: Conn) => void (erased = await serve(site, restored, audit, checked))
  const t = await restorePromoted(site.scratch.host, site.repos, plan, c, { audit, check })
  const timings = {
    ...t,
    ...checked,
    untilFirstWriteSeconds: (Date.now() - t0) / 1000,
  }
  const report = newClusterReport(plan, c.dir, c.port, c.logFile, timings)
  if (erased.people)
    report.notes.push(
      `re-applied the erasure ledger before serving: ${erased.rows} row(s) of ${erased.people} erased person(s) purged`,
    )
  return report
}

/** Before the restored cluster serves: the erasure ledger re-applied, then the tables read and a write taken. */
async function serve(
  site: LocalSitePort,
  restored: Conn,
  audit: AuditLog,
  timings: Record<string, number>,
): Promise<{ people: number; rows: number }> {
  const t0 = Date.now()
  const erased = await audit.step('re-apply the erasure ledger', () => reapplyErasures(site, restored))
  const t1 = Date.now()
  await verifyTables(restored, true)
  timings.erasureSeconds = (t1 - t0) / 1000
  timings.checksSeconds = (Date.now() - t1) / 1000
  return erased
}

/** The report of a restore into a new cluster (the local site's and the cold site's path alike). */
export function newClusterReport(
  plan: RestorePlan,
  dir: string,
  port: number,
  logFile: string,
  timings: Record<string, number>,
  connect = `psql -h 127.0.0.1 -p ${port} -U postgres ${DATABASE}`,
): RestoreReport {
  return {
    mode: 'new-cluster',
    target: describeTarget(plan.target),
    repo: plan.repo,
    backup: plan.backup.label,
    backupType: plan.backup.type,
    dataDir: dir,
    port,
    connect,
    reached: reachedFromLog(readFileSync(logFile, 'utf8')),
    timings,
    notes: plan.notes,
  }
}
