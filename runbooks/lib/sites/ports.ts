/**
 * What a procedure needs of a site, whichever site it is: the local one (sites/local) or a cloud
 * stack (sites/cloud). Types only: a procedure under ops/ takes these, a site builds them from
 * what it has. This file imports adapters and core, never ops (the monitor's readings, which
 * ops assemble, keep their port in ops/monitor/source.ts).
 */
import type { PgBackRest } from '../adapters/pgbackrest.ts'
import type { Conn, Postgres } from '../adapters/postgres.ts'

/** The repos a procedure reads backups and WAL from. */
export interface RepoAccess {
  /** pgBackRest over the site's repos (its commandLine is a restored cluster's restore_command) */
  br: PgBackRest
  /** the spool a restore may empty: never the one a site's own archive-push keeps its status in */
  restoreSpool?: string
  /** a restored cluster keeps no archiving of its own, even held (a cloud site's clusters archive only through PGO) */
  neverArchive?: boolean
}

/** One scratch cluster: where it is, how it is reached, how durably it is written. */
export interface ScratchCluster {
  dir: string
  port: number
  logFile: string
  /** its cluster_name */
  name: string
  /** written durably: false for one thrown away once read (no fsync: a lower-bound RTO) */
  synced: boolean
  /** the environment its restore, server and WAL fetches run in */
  env: Record<string, string>
}

/** Where scratch clusters are built, started and reached. */
export interface ScratchHost {
  pg: Postgres
  /** write the restored cluster's own settings (its hba, its configuration); the server options it starts with */
  settle(c: ScratchCluster): string
  /** the cluster, as the site's superuser, in `database` */
  conn(c: ScratchCluster, database?: string): Conn & { database: string }
  /** what the host set up beside the cluster (a socket directory), removed with it */
  release?(c: ScratchCluster): void
}

/** Where a proof's reference comes from: the standby to pause, the primary that writes, the repos that archive. */
export interface ReferenceSource {
  name: string
  /** how a proof's sentence names it (default: its name), e.g. "the warm standby" */
  label?: string
  /** the standby, in the database the proof compares */
  conn: Conn
  /** the live primary */
  primary: Conn
  /** the newest WAL segment archived in a repo */
  archivedMax(repo: number): Promise<string | null | undefined>
  /** why the standby can never reach the primary's timeline, if it cannot (read from its log) */
  stranded?(): string | undefined
  /** the last commit before `lsn` on `timeline`, read from the primary's WAL (a proof's fault injection: a restore a commit short) */
  lastCommitBefore?(timeline: number, lsn: string): Promise<string | undefined>
}
