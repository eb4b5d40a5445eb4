/**
 * The PostgreSQL adapter's statistics views of a primary: its standbys (pg_stat_replication) and
 * its archiver (pg_stat_archiver), read the same way by the local status and the cloud exporter.
 */
import { walSegmentDistance } from '../../../core/wal.ts'
import { query, type Conn } from './postgres.ts'

export interface ReplicationView {
  application_name: string
  state: string
  sync_state: string
  replay_lsn: string | null
  replay_lag_s: number | null
}

/** A primary's view of the standbys streaming from it. */
export function replicationView(c: Conn): Promise<ReplicationView[]> {
  return query<ReplicationView>(
    c,
    `SELECT application_name, state, sync_state, replay_lsn::text, extract(epoch FROM replay_lag)::float8 AS replay_lag_s
     FROM pg_stat_replication`,
  )
}

export interface ArchiverView {
  last_archived_wal: string | null
  last_archived_age_s: number | null
  failed_count: number
  last_failed_wal: string | null
  failing: boolean
  current_wal: string
}

/** A primary's archiver: the last archived and failed segments, and the segment being written. */
export async function archiverView(c: Conn): Promise<ArchiverView | undefined> {
  const [a] = await query<ArchiverView>(
    c,
    `SELECT last_archived_wal, extract(epoch FROM now() - last_archived_time)::float8 AS last_archived_age_s,
       failed_count::int, last_failed_wal,
       coalesce(last_failed_time > last_archived_time, last_failed_time IS NOT NULL) AS failing,
       pg_walfile_name(pg_current_wal_lsn()) AS current_wal
     FROM pg_stat_archiver`,
  )
  return a
}

export interface ArchiveRow {
  lastArchivedWal: string | null
  lastArchivedAgeSeconds: number | null
  currentWal: string
  lagSegments: number | null
  failedCount: number
  failing: boolean
}

/** What the primary's archiver says, as a row (the local status and the cloud exporter). */
export function archiveFacts(archiver: ArchiverView): ArchiveRow {
  return {
    lastArchivedWal: archiver.last_archived_wal,
    lastArchivedAgeSeconds: archiver.last_archived_age_s,
    currentWal: archiver.current_wal,
    lagSegments: archiver.last_archived_wal
      ? walSegmentDistance(archiver.current_wal, archiver.last_archived_wal)
      : null,
    failedCount: archiver.failed_count,
    failing: archiver.failing,
  }
}
