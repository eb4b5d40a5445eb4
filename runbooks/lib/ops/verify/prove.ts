/**
 * A local proof: the newest (or named) backup of one repo of the local site proven against its
 * warm standby (ops/verify/proof.ts, the one proof procedure), in a scratch cluster of the site,
 * written durably only when it is kept (or --synced): one thrown away once read needs no fsync
 * (its restore runs under eatmydata and its server with fsync off; measured at scale 1: the copy
 * 2.1-2.6 s instead of 2.7-3.9 s), and its RTO is then a lower bound; a drill's PITR syncs. Then
 * the tier-1 objectives are judged and the scratch cluster removed or kept.
 */
import { existsSync, rmSync } from 'node:fs'
import type { CatalogBackup, Point } from '../../../../core/recovery.ts'
import { postmasterPid, query } from '../../adapters/postgres.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { reapplyErasures } from '../erasure/erasure.ts'
import { assembleProof, judgeProof, measureProof, type Proof, type ProofBase, type ProofScratch } from './proof.ts'
import type { StructureOptions } from './structure.ts'
import { firstLine } from '../../../../core/errors.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export type { Proof }

export interface ProofOptions extends StructureOptions {
  keep: boolean
  /** write the scratch restore durably even when it is thrown away (a kept one always is) */
  synced?: boolean
}

/** The proof of one backup from one repo; `newestArchived` is the newest archived commit when the run began. */
export async function proveBackup(
  site: LocalSitePort,
  backup: CatalogBackup,
  newestArchived: Point | null,
  o: ProofOptions,
  audit: AuditLog,
): Promise<Proof> {
  const host = site.scratch.host
  const cluster = await site.scratch.cluster('verify', { synced: o.keep || !!o.synced })
  const scratch: ProofScratch = { ...cluster, conn: host.conn(cluster), checks: { heapAllIndexed: o.heapAllIndexed } }
  const b = { label: backup.label, type: backup.type, repo: backup.repo }
  const base: ProofBase = { backup: b, tier1: site.policy.tiers[1], newestArchived, scratch: cluster, kept: o.keep }
  for (const gone of await site.scratch.removeOrphans())
    log.warn(`removed the scratch cluster of a killed runbook: ${gone}`)
  site.scratch.claim(scratch.dir)
  try {
    const input = { run: site.run, host, repos: site.repos, backup, scratch, reference: site.reference(), audit }
    const m = await measureProof(input)
    return assembleProof(base, m, judgeProof(m, base))
  } catch (e) {
    return assembleProof(base, null, `the proof could not run: ${firstLine(e)}`)
  } finally {
    await dropScratch(site, scratch, o.keep)
  }
}

/**
 * A kept scratch cluster is the user's now (no longer an orphan to remove); a promoted one may
 * be queried, so the erasure ledger is re-applied first — or it is stopped.
 */
async function keepScratch(site: LocalSitePort, s: ProofScratch): Promise<void> {
  site.scratch.release(s.dir)
  const promoted = (await query<{ r: boolean }>(s.conn, 'SELECT NOT pg_is_in_recovery() AS r').catch(() => []))[0]?.r
  if (promoted)
    await reapplyErasures(site, s.conn).catch(async (e) => {
      log.warn(`the erasure ledger could not be re-applied (${(e as Error).message}): stopping the kept cluster`)
      await site.pg.stop(s.dir, 'immediate').catch(() => {})
    })
  log.info(`kept the scratch cluster: ${s.dir} (port ${s.port})`)
}

async function dropScratch(site: LocalSitePort, s: ProofScratch, keep: boolean): Promise<void> {
  if (postmasterPid(s.dir)) {
    if (keep) return keepScratch(site, s)
    await site.pg.stop(s.dir, 'immediate').catch(() => {})
  }
  if (!keep && existsSync(s.dir)) rmSync(s.dir, { recursive: true, force: true })
  else if (keep) log.info(`kept the scratch cluster: ${s.dir} (port ${s.port})`)
  site.scratch.release(s.dir)
}
