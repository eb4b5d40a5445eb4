/**
 * In-place restore to `latest`: the newest acknowledged commit, handed over by the old primary.
 * With traffic fenced it closes its WAL segment, the archive receives it, its own WAL proves no
 * commit came after, and the staged copy replays it. A dead primary cannot hand it over.
 */
import { inputError } from '../../../../core/errors.ts'
import type { RestorePlan } from '../../../../core/recovery.ts'
import { probe, query } from '../../adapters/postgres.ts'
import { controlData, walCommitsAfter } from '../../adapters/cluster-files.ts'
import type { AuditLog } from '../../output/audit.ts'
import { waitArchived } from '../backup/close-wal.ts'
import { caughtUp, RecoveryStopped, stagingCluster, waitForRecovery, type Staging } from './cluster.ts'
import type { RestoreOptions } from './plan.ts'
import { type LocalSitePort, type NodeName } from '../../sites/local-port.ts'

/** Where the old primary's WAL ended once the endpoint was fenced, and that it reached the archive. */
export interface Tail {
  /** the end of the last WAL segment the old primary completed (pg_switch_wal), all of it archived */
  lsn: string
  segment: string
}

/**
 * `latest` in place means the newest acknowledged commit, which only a running primary can hand
 * over (its last WAL is archived at the fence). With the primary down, commits after the newest
 * archived one are gone: say so with the numbers and require --accept-data-loss.
 */
export async function requireLatestReachable(
  site: LocalSitePort,
  primary: NodeName,
  plan: RestorePlan,
  o: RestoreOptions,
): Promise<void> {
  if (plan.target.kind !== 'latest') return
  // checked before the fence: the staged copy could never replay past a gap to the primary's tail
  const gap = plan.gapAfter
  if (gap)
    throw inputError(
      '--target',
      'latest',
      `WAL segment ${gap.firstMissing} is missing from repo${plan.repo}'s archive (after ${gap.lastPresent}), so an in-place restore to latest would stop at ${gap.before ? `${new Date(gap.before.time).toISOString()} (LSN ${gap.before.lsn})` : 'the gap'} and drop every commit after it; nothing was changed`,
      `restore from a repo whose archive has it (catalog.ts; e.g. --repo ${plan.repo === 1 ? 2 : 1}), or, to accept that loss, --target lsn:${gap.before?.lsn ?? '<LSN before the gap>'}`,
    )
  if (o.acceptDataLoss) return
  const p = await probe(primary, site.conn(primary, 'postgres'))
  if (p.reachable && p.inRecovery === false) return
  const last = plan.window.latest
  throw inputError(
    '--target',
    'latest',
    `primary ${primary} does not answer (${p.error ?? 'in recovery'}), so its unarchived WAL cannot be handed over: commits it acknowledged after the newest archived one (${new Date(last.time).toISOString()}, LSN ${last.lsn}) would be lost`,
    'bring the primary back and retry, or pass --accept-data-loss to restore to the newest archived commit',
  )
}

/** With traffic fenced: close the current WAL segment and wait until the archive holds it. */
export async function archiveTheTail(site: LocalSitePort, primary: NodeName, audit: AuditLog): Promise<Tail> {
  const conn = site.conn(primary, 'postgres')
  const [sw] = await query<{ lsn: string; segment: string }>(
    conn,
    `SELECT l::text AS lsn, pg_walfile_name(l - 1) AS segment FROM (SELECT pg_switch_wal() AS l) s`,
  )
  const tail = { lsn: sw!.lsn, segment: sw!.segment }
  await audit.step(`archive ${tail.segment} (the primary's last WAL before the fence)`, () =>
    waitArchived(conn, tail.segment, 300_000),
  )
  return tail
}

/**
 * The old primary, stopped, wrote no commit after the tail: its own WAL is read with pg_waldump.
 * (A client that bypassed the endpoint could have; its commit would be lost, so we stop instead.)
 */
export async function requireNoCommitsAfter(site: LocalSitePort, dataDir: string, tail: Tail): Promise<void> {
  const { timeline } = await controlData(site.run, dataDir)
  const commits = await walCommitsAfter(site.run, dataDir, timeline, tail.lsn)
  if (commits.length > 0)
    throw new Error(
      `${commits.length} commit(s) reached the old primary after the fence (not through the endpoint): they are not in the archive`,
    )
}

/** Start the staged copy again (still a standby) until it has replayed the tail, then stop it. */
export async function catchUpStaged(
  site: LocalSitePort,
  plan: RestorePlan,
  staging: Staging,
  tail: Tail,
): Promise<void> {
  await site.pg.start(
    staging.dir,
    staging.logFile,
    site.scratch.options(staging.port, `restore-${staging.port}`, site.layout.socketDir),
  )
  // every segment up to the tail is in the archive already: replay that stops advancing for a
  // minute waits for WAL that cannot arrive, and the fence must not stay up for it
  let last = { lsn: '', at: Date.now() }
  const conn = site.scratch.host.conn(stagingCluster(staging), 'postgres')
  const progressed = async () => {
    if (await caughtUp(conn, tail.lsn)) return true
    const [r] = await query<{ lsn: string | null }>(conn, 'SELECT pg_last_wal_replay_lsn()::text AS lsn')
    const lsn = r?.lsn ?? ''
    if (lsn !== last.lsn) last = { lsn, at: Date.now() }
    else if (Date.now() - last.at > TAIL_STALL_MS)
      throw new RecoveryStopped(
        `the staged copy stopped replaying at ${lsn || 'its start'} for ${TAIL_STALL_MS / 1000} s, short of the tail ${tail.lsn} (${tail.segment}), though the archive should hold all of it: a segment in between is missing from repo${plan.repo}'s archive`,
        '',
      )
    return false
  }
  await waitForRecovery(
    `the staged copy to replay up to ${tail.lsn}`,
    { dir: staging.dir, logFile: staging.logFile, repo: plan.repo },
    progressed,
  )
  await site.pg.stop(staging.dir, 'fast')
}

/** How long the tail's replay may stand still before the wait is given up (the fence is up meanwhile). */
const TAIL_STALL_MS = 60_000

/** What the report says of the tail an in-place restore to latest replayed. */
export function tailNote(primary: NodeName, tail: Tail | undefined): string[] {
  if (!tail) return []
  return [
    `latest = every commit ${primary} acknowledged before the endpoint was fenced: its WAL up to ${tail.lsn} (${tail.segment}) was archived and replayed into the restore, and its own WAL after that holds no commit`,
  ]
}
