/**
 * Close the live primary's current WAL segment and wait until the archive holds it: what a
 * restore point needs to be usable, and what a time target needs when no commit after it has been
 * archived yet (a commit is written first, so one follows the target even on an idle database).
 */
import { query, type Conn } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'

/** Wait until the primary's archiver has taken `segment` (and so every segment before it). */
export async function waitArchived(primary: Conn, segment: string, timeoutMs = 120_000): Promise<void> {
  const archived = async () => {
    const [a] = await query<{ last: string | null }>(primary, 'SELECT last_archived_wal AS last FROM pg_stat_archiver')
    return !!a?.last && a.last.slice(0, 24) >= segment
  }
  await waitFor(`WAL segment ${segment} to be archived`, archived, timeoutMs, 100)
}

/** Switch to a new segment and wait for repo 1's archiver to have taken the one closed. */
export async function archiveCurrentWal(primary: Conn): Promise<string> {
  const [r] = await query<{ seg: string }>(primary, 'SELECT pg_walfile_name(pg_switch_wal()) AS seg')
  await waitArchived(primary, r!.seg)
  return r!.seg
}

/** A commit now (an xid taken and committed, no row changed), then its segment archived. */
export async function archiveACommit(primary: Conn): Promise<{ segment: string; at: Date }> {
  const [c] = await query<{ at: Date }>(
    primary,
    'SELECT pg_current_xact_id() IS NOT NULL AS ok, clock_timestamp() AS at',
  )
  return { segment: await archiveCurrentWal(primary), at: c!.at }
}
