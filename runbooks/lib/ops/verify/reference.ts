/**
 * The reference a proof compares against: a standby, paused at an exact LSN X it has replayed
 * (past the backup's end and archived in the repo under proof), fingerprinted there, then
 * resumed. It is never left paused by us: resume runs in `finally`, and `local.ts up` resumes one
 * that a killed proof left paused. Where it comes from is the site's (sites/ports.ts): the local
 * site's warm standby (sites/local/reference.ts), a standby of a cloud stack's inventory
 * (sites/cloud/reference.ts).
 */
import { lsnToBigInt, segmentName } from '../../../../core/wal.ts'
import { query, type Conn } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import type { ReferenceSource } from '../../sites/ports.ts'
import { replayPaused } from '../restore/cluster.ts'
import type { Fingerprint } from './fingerprint.ts'

export interface Reference {
  node: string
  /** the end of the last record the standby had replayed when paused */
  lsn: string
  timeline: number
  /** the last commit replayed there (ISO), or null */
  lastCommit: string | null
  fingerprint: Fingerprint
}

const lsnSql = `SELECT pg_last_wal_replay_lsn()::text AS lsn`

/**
 * Pause the standby once it has replayed past `after` and read where it stopped. The caller
 * resumes it (resumeReplay) in a `finally`, once it has compared what it needed.
 */
export async function pauseAt(src: ReferenceSource, after: string): Promise<Omit<Reference, 'fingerprint'>> {
  await replayedPast(src, after)
  await query(src.conn, 'SELECT pg_wal_replay_pause()')
  await waitFor(`${src.name}'s replay to pause`, () => replayPaused(src.conn), 60_000)
  const [r] = await query<{ lsn: string; tli: number; commit: string | null }>(
    src.conn,
    `SELECT pg_last_wal_replay_lsn()::text AS lsn, (SELECT timeline_id FROM pg_control_checkpoint())::int AS tli,
       to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS commit`,
  )
  log.info(`reference: ${src.name} paused at ${r!.lsn}`)
  return { node: src.name, lsn: r!.lsn, timeline: r!.tli, lastCommit: r!.commit }
}

export async function resumeReplay(conn: Conn): Promise<boolean> {
  const [r] = await query<{ paused: boolean }>(
    conn,
    `SELECT pg_is_in_recovery() AND pg_get_wal_replay_pause_state() <> 'not paused' AS paused`,
  )
  if (r?.paused) await query(conn, 'SELECT pg_wal_replay_resume()')
  return !!r?.paused
}

/** A standby replaying from the archive: switch the primary's WAL until it has passed `lsn`. */
async function replayedPast(src: ReferenceSource, lsn: string): Promise<void> {
  const past = async () => {
    const stranded = src.stranded?.()
    if (stranded) throw new StrandedReference(stranded)
    return lsnToBigInt((await query<{ lsn: string }>(src.conn, lsnSql))[0]!.lsn) >= lsnToBigInt(lsn)
  }
  if (await past()) return
  log.info(`waiting for ${src.name} to replay past the backup's end (${lsn})`)
  await query(src.primary, 'SELECT pg_switch_wal()')
  await waitFor(`${src.name} to replay past ${lsn}`, past, 10 * 60_000, 250, (e) => e instanceof StrandedReference)
}

class StrandedReference extends Error {}

/**
 * A restore stops before the record that starts at X only once it has read that record: make
 * sure one exists (a WAL message on the primary), close its segment, and wait until that
 * segment is in the repo under proof (repo2 ships a moment after repo1).
 */
export async function nextRecordArchived(
  src: ReferenceSource,
  repo: number,
  timeline: number,
  lsn: string,
): Promise<void> {
  await query(src.primary, `SELECT pg_logical_emit_message(false, 'labdojo-dr', 'proof'), pg_switch_wal()`)
  const seg = segmentName(timeline, lsn)
  await waitFor(
    `${seg} to be archived in repo${repo}`,
    async () => {
      const max = await src.archivedMax(repo)
      return !!max && max >= seg
    },
    10 * 60_000,
    250,
  )
}
