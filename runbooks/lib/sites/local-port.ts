/**
 * The local site as a procedure takes it: where it lives (its layout), who holds which role, and
 * what it does on request (fence, record a role, route its endpoint, build a scratch cluster, run
 * its workload and its application). Types, and the fixed names every local site has; it imports
 * adapters, core and the shared ports, never ops or sites/local. sites/local/site.ts's LocalSite
 * implements it; a procedure under ops/ imports this file, never sites/local.
 */
import type { DrPolicy } from '../../../core/policy.ts'
import type { Inventory } from '../../../core/inventory.ts'
import type { SyncDecision } from '../../../core/sync-guard.ts'
import type { Runner } from '../adapters/exec.ts'
import type { Webhook } from '../adapters/notify.ts'
import type { ObjectStore } from '../adapters/object-store.ts'
import type { ArchiveRow } from '../adapters/pg-views.ts'
import type { PgBackRest } from '../adapters/pgbackrest.ts'
import type { Conn, Postgres } from '../adapters/postgres.ts'
import type { Restic } from '../adapters/restic.ts'
import type { AuditLog } from '../output/audit.ts'
import type { ReferenceSource, RepoAccess, ScratchCluster, ScratchHost } from './ports.ts'

export type NodeName = 'node1' | 'node2' | 'node3'
export const NODE_NAMES: readonly NodeName[] = ['node1', 'node2', 'node3']
/** the application's database, and the pgBackRest stanza that backs it up */
export const DATABASE = 'labdojo'

export type NodeRole = 'primary' | 'hot' | 'warm' | 'fenced'

/** The site's state file (site.json): which node holds which role. sites/local/state.ts is its only writer. */
export interface SiteState {
  version: 1
  createdAt: string
  basePort: number
  scale: number
  primary: NodeName
  roles: Record<NodeName, NodeRole>
  /** the primary's timeline when last seen (a dead primary cannot be asked) */
  timeline?: number
  /** why a node is fenced, for the operator */
  fencedReason?: Partial<Record<NodeName, string>>
}

/** What a node's settings follow from its role. */
export interface RoleContext {
  /** the node the site's primary is (a hot standby streams from it) */
  primary: NodeName
  /** a primary in synchronous mode: the standbys of which ANY 1 must confirm (default: none) */
  syncStandbys?: string[]
  /**
   * a primary not yet proven (an in-place restore bringing its copy up): its WAL, the new
   * timeline's history file first, is held in this directory and reaches the repos only once it
   * is proven; a rollback drops it, so the archive never holds an abandoned timeline
   */
  holdArchiveIn?: string
}

export interface Layout {
  stateDir: string
  siteId: string
  basePort: number
  ports: {
    endpoint: number
    s3: number
    node1: number
    node2: number
    node3: number
    /** monitoring (local.ts up --monitoring): the DR exporter, Prometheus, Alertmanager */
    exporter: number
    prometheus: number
    alertmanager: number
    scratchFirst: number
    scratchLast: number
  }
  siteFile: string
  inventoryFile: string
  auditFile: string
  /** the evidence ledger: proofs, hash-chained */
  evidenceFile: string
  /** the GDPR erasure ledger, beside repo 1 and outside the backups (sealed offsite too) */
  erasureLedger: string
  socketDir: string
  node(name: NodeName): { dir: string; data: string; conf: string; log: string }
  pgbackrest: {
    dir: string
    conf: string
    /** repo1 only: what archive_command pushes to, so a repo2 outage cannot hold it up */
    repo1Conf: string
    /** repo2 only: what the offsite shipper pushes queued WAL to */
    repo2Conf: string
    /** WAL archived to repo1 and waiting for repo2, oldest first */
    outbox: string
    /** archive_command: `push DATADIR %p`, and the offsite shipper: `ship DATADIR` */
    walScript: string
    log: string
    lock: string
    spool: string
    repo1: string
  }
  s3: { dir: string; data: string; cert: string; key: string; pid: string; log: string }
  pgbouncer: { dir: string; ini: string; users: string; passfile: string; pid: string; log: string }
  workload: { dir: string; acks: string; pid: string; log: string }
  /** the site's scheduler: the policy's backups, proofs and drills, run by themselves */
  scheduler: { dir: string; pid: string; log: string }
  /** local.ts up --monitoring: each daemon's pid and log, and the generated configuration */
  monitoring: {
    dir: string
    exporter: { pid: string; log: string }
    prometheus: { pid: string; log: string; config: string; rules: string; data: string }
    alertmanager: { pid: string; log: string; config: string; data: string }
  }
  scratchDir: string
  /** the LabDojo application tree the files backups cover (source, config, uploads, logs); restic's repo1 repository */
  app: { root: string; restic1: string; port: number; pid: string; log: string }
  /** 0600, owned by the site user, outside the repo */
  secrets: { dir: string; pgbackrest: string; pgpass: string; bouncerUsers: string; restic: string }
}

/** One acknowledged commit of the drill workload. */
export interface Ack {
  seq: number
  /** when the writer got the acknowledgement (ms) */
  at: number
  /** the server port that acknowledged it */
  port: number
}

export interface NextRun {
  job: string
  at: string
}

export interface SchedulerRow {
  running: boolean
  pid: number | null
  wanted: boolean
  next: NextRun | null
  lastEnded: string | null
}

export interface FiringAlert {
  name: string
  severity: string
  escalation: string
  summary: string
  since: string
  labels: Record<string, string>
}

export type { ArchiveRow }

export interface NodeRow {
  name: NodeName
  site: string
  role: NodeRole
  port: number
  pid: number | null
  live: 'primary' | 'standby' | 'down'
  lsn: string | null
  timeline: number | null
  replicationLagBytes: number | null
  replayLagSeconds: number | null
  streaming: boolean
  syncState: string | null
  healthy: boolean
}

export interface RepoRow {
  index: number
  type: string
  healthy: boolean
  message: string
  backups: number
  latestBackup: string | null
  archiveMax: string | null
}

/** WAL in repo1 still waiting for repo2 (the offsite lane of archiving). */
export interface OffsiteQueueRow {
  files: number
  oldest: string | null
  oldestAgeSeconds: number | null
}

export interface EndpointRow {
  port: number
  running: boolean
  target: NodeName | null
  targetPort: number | null
  reachable: boolean
  routesToPort: number | null
  healthy: boolean
}

export type SiteStatus = {
  stack: 'local'
  stateDir: string
  healthy: boolean
  problems: string[]
  primary: NodeName
  nodes: NodeRow[]
  archive: ArchiveRow | null
  repos: RepoRow[]
  offsiteQueue: OffsiteQueueRow
  endpoint: EndpointRow
  s3: { port: number; running: boolean }
  scheduler: SchedulerRow
  /** alerts Alertmanager holds as firing (null: monitoring is not running; see up --monitoring) */
  alerts: FiringAlert[] | null
  /** the audit log's hash chain (when a file was given) */
  audit?: { file: string; ok: boolean; entries: number; problem?: string; anchors: number | null }
}

/** The in-place restore's journal (sites/local/restore-journal.ts is its only writer): the step it reached. */
export type InPlacePhase = 'staging' | 'fenced' | 'swapping' | 'swapped' | 'proven'

export interface InPlaceJournal {
  pid: number
  primary: NodeName
  stamp: string
  target: string
  staging: string
  /** where the original data directory goes once swapped */
  replaced: string
  /** where the restored primary's WAL waits until it is proven */
  held: string
  standbys: NodeName[]
  phase: InPlacePhase
}

/** The local site, as procedures take it. */
export interface LocalSitePort {
  readonly layout: Layout
  readonly policy: DrPolicy
  /** every command run for this site finds its password file */
  readonly run: Runner
  readonly pg: Postgres
  readonly br: PgBackRest
  readonly repos: RepoAccess
  state(): SiteState
  /** save the state and the inventory derived from it */
  saveState(state: SiteState): void
  port(node: NodeName): number
  conn(node: NodeName, database?: string): Conn
  endpointConn(database?: string): Conn
  inventory(state?: SiteState): Inventory
  /** the newest moment repo1's archive is known to hold (null: none) */
  newestArchivedAt(): number | null
  up(opts: { scale: number; monitoring?: boolean }): Promise<string[]>
  status(auditFile?: string): Promise<SiteStatus>
  /** the endpoint routes to `target`, or nowhere */
  routeEndpoint(target: NodeName | undefined): Promise<void>
  writeNodeSettings(node: NodeName, role: NodeRole, ctx: RoleContext): boolean
  cloneStandby(state: SiteState, node: NodeName): Promise<void>
  ensureRunning(state: SiteState, node: NodeName): Promise<boolean>
  ensureSyncReplication(state: SiteState): Promise<string | undefined>
  writeBackrestConf(state: SiteState): void
  /** why a repo cannot be used now, if it cannot */
  repoDown(repo: number, use?: 'read' | 'write'): Promise<string | undefined>
  requireCipherPass(): void
  /** the site's secrets file, parsed (names to values: never printed) */
  secrets(): Record<string, string>
  /** the communication plan's webhooks, read and validated */
  webhooks(): Webhook[]
  /** take the site's runbook lock (waiting up to `waitMs`); the release */
  lock(command: string, waitMs?: number): Promise<() => void>
  /** why `path` may not be written (a data directory, repo 1, the secrets, the state), `area` excepted */
  guardedPathClash(
    path: string,
    area: [dir: string, name: string],
    o?: { areaItself?: boolean; also?: [string, string][] },
  ): string | undefined
  /** wait until every standby streams from `primary` */
  waitStreaming(primary: NodeName, standbys: string[], timeoutMs?: number): Promise<void>
  /** one round of keeping synchronous replication as the policy's syncFallback says */
  syncGuard(audit: AuditLog, hooks: Webhook[]): { round(now?: number): Promise<SyncDecision> }
  /** the node roles: sites/local/roles.ts is their only writer */
  roles: {
    /** stop a node at once if it runs */
    stopHard(node: NodeName): Promise<void>
    markFenced(state: SiteState, node: NodeName, reason: string): void
    recordPrimary(state: SiteState, candidate: NodeName): Promise<void>
    recordStandby(state: SiteState, node: NodeName, role: 'hot' | 'warm'): Promise<string | undefined>
  }
  /** a node's settings, read and written by the module that owns them */
  settings: {
    syncStandbys(node: NodeName): string[]
    writeStandbySignal(dataDir: string): void
    clearRestoreSettings(dataDir: string): boolean
  }
  scratch: {
    host: ScratchHost
    cluster(
      kind: string,
      o: { port?: number; into?: string; synced: boolean; logName?: string },
    ): Promise<ScratchCluster>
    freePort(): Promise<number>
    /** the server options a restored cluster starts with */
    options(port: number, name: string, socketDir: string): string
    claim(dir: string): void
    release(dir: string): void
    /** remove the scratch clusters of killed runbooks; what was removed */
    removeOrphans(): Promise<string[]>
  }
  /** the in-place restore's journal, written before each irreversible step */
  journal: { read(): InPlaceJournal | undefined; write(j: InPlaceJournal): void; clear(): void }
  /** the proof's reference: the warm standby */
  reference(): ReferenceSource
  offsite: { store(env?: NodeJS.ProcessEnv): ObjectStore; down(): Promise<string | undefined> }
  files: { restic(repo: number): Restic; ensurePassword(): void }
  app: {
    running(): number | undefined
    start(): number
    stop(): Promise<boolean>
    healthy(timeoutMs?: number): Promise<string>
  }
  workload: {
    running(): boolean
    start(rate: number): Promise<string>
    stop(): Promise<boolean>
    acked(id?: string): (Ack & { writer: string })[]
    lostCommits(conn: Conn, acks: (Ack & { writer: string })[]): Promise<(Ack & { writer: string })[]>
  }
}
