/** The warm standby kept usable: replaying (not left paused by a killed proof), and on the primary's timeline. */
import { renameSync, rmSync } from 'node:fs'
import { serverLog, strandedBefore } from '../../adapters/cluster-files.ts'
import { postmasterPid, query } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import type { SiteHandle } from './handle.ts'
import type { Change } from './state.ts'
import { cloneStandby, ensureRunning } from './replication.ts'
import { nodesWithRole, type SiteState } from './state.ts'

/** A proof pauses the warm standby's replay and resumes it; one killed midway leaves it paused: resume it. */
export async function ensureWarmReplaying(site: SiteHandle, state: SiteState): Promise<Change | undefined> {
  for (const n of nodesWithRole(state, 'warm')) {
    const sql = `SELECT pg_is_in_recovery() AND pg_get_wal_replay_pause_state() <> 'not paused' AS paused`
    const [r] = await query<{ paused: boolean }>(site.conn(n, 'postgres'), sql).catch(() => [])
    if (!r?.paused) continue
    await query(site.conn(n, 'postgres'), 'SELECT pg_wal_replay_resume()')
    return `resumed ${n}'s replay (left paused by an interrupted verify)`
  }
  return undefined
}

/**
 * A warm standby that replayed past a newer timeline's fork point can never follow the primary
 * (status says so): clone it afresh from the primary. Its old directory is moved aside first and
 * removed only once the clone replays; it holds nothing the primary lacks.
 */
export async function ensureWarmFollows(site: SiteHandle, state: SiteState): Promise<Change[]> {
  const changes: Change[] = []
  for (const n of nodesWithRole(state, 'warm')) {
    const paths = site.layout.node(n)
    const stranded = postmasterPid(paths.data) ? strandedBefore(serverLog(paths.log)) : undefined
    if (stranded === undefined) continue
    log.step(`${n} replayed past timeline ${stranded}'s fork point and cannot follow it: cloning it afresh`)
    await site.pg.stop(paths.data, 'fast')
    const aside = `${paths.data}.stranded`
    rmSync(aside, { recursive: true, force: true })
    renameSync(paths.data, aside)
    await cloneStandby(site, state, n)
    await ensureRunning(site, state, n)
    await waitFor(
      `${n} to replay as a warm standby`,
      async () => (await query<{ r: boolean }>(site.conn(n, 'postgres'), 'SELECT pg_is_in_recovery() AS r'))[0]!.r,
      600_000,
    )
    rmSync(aside, { recursive: true, force: true })
    changes.push(`rebuilt ${n} (warm): it had replayed past timeline ${stranded}'s fork point`)
  }
  return changes
}
