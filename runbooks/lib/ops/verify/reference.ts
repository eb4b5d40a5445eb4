/**
 * The reference a proof compares against: the warm standby, paused at an exact LSN X it has
 * replayed (past the backup's end and archived in the repo under proof), fingerprinted there,
 * then resumed. It is never left paused by us: resume runs in `finally`, and `local.ts up`
 * resumes one that a killed proof left paused.
 */
import { lsnToBigInt, segmentName } from '../../../../core/wal.ts'
import { query } from '../../adapters/postgres.ts'
import { serverLog, strandedBefore } from '../../adapters/cluster-files.ts'
import { waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import type { NodeName } from '../../sites/local/layout.ts'
import type { LocalSite } from '../../sites/local/site.ts'
import type { Fingerprint } from './fingerprint.ts'

export interface Reference {
  node: NodeName
  /** the end of the last record the warm standby had replayed when paused */
  lsn: string
  timeline: number
  /** the last commit replayed there (ISO), or null */
  lastCommit: string | null
  fingerprint: Fingerprint
}

const lsnSql = `SELECT pg_last_wal_replay_lsn()::text AS lsn`

export function warmNode(site: LocalSite): NodeName {
  const state = site.state()
  const warm = (Object.keys(state.roles) as NodeName[]).find((n) => state.roles[n] === 'warm')
  if (!warm) throw new Error('no warm standby to take the reference from: local.ts up restores one')
  return warm
}

/**
 * Pause the warm standby once it has replayed past `after` and read where it stopped. The caller
 * resumes it (resumeReplay) in a `finally`, once it has compared what it needed.
 */
export async function pauseWarm(site: LocalSite, after: string): Promise<Omit<Reference, 'fingerprint'>> {
  const node = warmNode(site)
  const conn = site.conn(node)
  await replayedPast(site, node, after)
  await query(conn, 'SELECT pg_wal_replay_pause()')
  await waitFor(
    `${node}'s replay to pause`,
    async () =>
      (await query<{ s: string }>(conn, `SELECT pg_get_wal_replay_pause_state()::text AS s`))[0]!.s === 'paused',
    60_000,
  )
  const [r] = await query<{ lsn: string; tli: number; commit: string | null }>(
    conn,
    `SELECT pg_last_wal_replay_lsn()::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint())::int AS tli,
       to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS commit`,
  )
  log.info(`reference: ${node} paused at ${r!.lsn}`)
  return { node, lsn: r!.lsn, timeline: r!.tli, lastCommit: r!.commit }
}

export async function resumeReplay(site: LocalSite, node: NodeName): Promise<boolean> {
  const [r] = await query<{ paused: boolean }>(
    site.conn(node),
    `SELECT pg_is_in_recovery() AND pg_get_wal_replay_pause_state() <> 'not paused' AS paused`,
  )
  if (r?.paused) await query(site.conn(node), 'SELECT pg_wal_replay_resume()')
  return !!r?.paused
}

/** The warm standby replays from the archive: switch the primary's WAL until it has passed `lsn`. */
async function replayedPast(site: LocalSite, node: NodeName, lsn: string): Promise<void> {
  const primary = site.conn(site.state().primary, 'postgres')
  const past = async () => {
    const stranded = strandedBefore(serverLog(site.layout.node(node).log))
    if (stranded !== undefined)
      throw new StrandedReference(
        `${node} (warm), the proof's reference, replayed past timeline ${stranded}'s fork point and can never follow the primary: local.ts up rebuilds it, then verify again`,
      )
    return lsnToBigInt((await query<{ lsn: string }>(site.conn(node), lsnSql))[0]!.lsn) >= lsnToBigInt(lsn)
  }
  if (await past()) return
  log.info(`waiting for ${node} to replay past the backup's end (${lsn})`)
  await query(primary, 'SELECT pg_switch_wal()')
  await waitFor(`${node} to replay past ${lsn}`, past, 10 * 60_000, 250, (e) => e instanceof StrandedReference)
}

class StrandedReference extends Error {}

/**
 * A restore stops before the record that starts at X only once it has read that record: make
 * sure one exists (a WAL message on the primary), close its segment, and wait until that
 * segment is in the repo under proof (repo2 ships a moment after repo1).
 */
export async function nextRecordArchived(site: LocalSite, repo: number, timeline: number, lsn: string): Promise<void> {
  const primary = site.conn(site.state().primary, 'postgres')
  await query(primary, `SELECT pg_logical_emit_message(false, 'labdojo-dr', 'proof'), pg_switch_wal()`)
  const seg = segmentName(timeline, lsn)
  await waitFor(
    `${seg} to be archived in repo${repo}`,
    async () => {
      const max = (await site.br.info(repo)).archives.find((a) => a.repoKey === repo)?.max
      return !!max && max >= seg
    },
    10 * 60_000,
    250,
  )
}
