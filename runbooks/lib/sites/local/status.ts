/**
 * What the local site is doing right now: every node probed (with its role's health rule from
 * core/health.ts), archiving, both repos, and where the endpoint really routes. Read-only.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { formatDuration } from '../../../../core/duration.ts'
import { nodeHealthy } from '../../../../core/health.ts'
import { archiveTimeoutSeconds } from '../../../../core/policy.ts'
import { lsnDiff } from '../../../../core/wal.ts'
import { bouncerRunning, configuredTarget } from '../../adapters/pgbouncer.ts'
import { postmasterPid, probe, query, type NodeStatus } from '../../adapters/postgres.ts'
import {
  archiveFacts,
  archiverView,
  replicationView,
  type ArchiverView,
  type ReplicationView,
} from '../../adapters/pg-views.ts'
import { serverLog, strandedBefore } from '../../adapters/cluster-files.ts'
import { s3Running } from '../../adapters/s3-server.ts'
import type { SiteHandle } from './handle.ts'
import { NODE_NAMES, NODE_SITE, type NodeName } from './layout.ts'
import { repoDown } from './provision.ts'
import { registerSiteSecrets } from './secrets.ts'
import { firingAlerts, monitoringRunning } from './monitoring.ts'
import { schedulerRow } from './scheduler.ts'
import { verifyAuditChain } from '../../output/audit.ts'
import { checkAuditAnchors } from './audit-anchor.ts'
import type { SiteState } from './state.ts'
import type { ArchiveRow, EndpointRow, NodeRow, OffsiteQueueRow, RepoRow, SiteStatus } from '../local-port.ts'

export type { ArchiveRow, EndpointRow, NodeRow, OffsiteQueueRow, RepoRow, SiteStatus }

export async function siteStatus(site: SiteHandle, auditFile?: string): Promise<SiteStatus> {
  const state = site.state()
  registerSiteSecrets(site.layout)
  const problems: string[] = []
  const probes = await probeNodes(site)
  const primary = probes[state.primary]
  const views = await primaryViews(site, state, primary, problems)
  const nodes = NODE_NAMES.map((n) => nodeRow(site, state, probes, views.replication, n, problems))
  const archive = archiveRow(views.archiver, problems)
  const repos = await Promise.all([1, 2].map((repo) => repoRow(site, repo, problems)))
  const offsiteQueue = offsiteQueueRow(site, problems)
  const endpoint = await endpointRow(site, state, problems)
  const scheduler = schedulerRow(site, problems)
  const alerts = monitoringRunning(site) ? await firingAlerts(site).catch(() => null) : null
  const audit = auditFile ? await auditRow(site, auditFile) : undefined
  if (audit && !audit.ok) problems.push(`audit log ${audit.file} was tampered with: ${audit.problem}`)
  return {
    stack: 'local',
    stateDir: site.layout.stateDir,
    healthy: problems.length === 0,
    problems,
    primary: state.primary,
    nodes,
    archive,
    repos,
    offsiteQueue,
    endpoint,
    s3: { port: site.layout.ports.s3, running: s3Running(site.layout.s3) },
    scheduler,
    alerts,
    audit,
  }
}

/** The audit log's chain, and its head against the anchors kept offsite (which alone catch a cut or edited tail). */
async function auditRow(site: SiteHandle, file: string): Promise<NonNullable<SiteStatus['audit']>> {
  const chain = verifyAuditChain(file)
  if (!chain.ok) return { file, ...chain, anchors: null }
  const anchored = s3Running(site.layout.s3)
    ? await checkAuditAnchors(site.layout, file)
    : { ok: true, anchors: null, problem: 'its offsite anchors could not be read (the S3 store is not running)' }
  return { file, ...chain, ok: anchored.ok, anchors: anchored.anchors, problem: anchored.problem }
}

async function probeNodes(site: SiteHandle): Promise<Record<NodeName, NodeStatus>> {
  const probes = await Promise.all(NODE_NAMES.map((n) => probe(n, site.conn(n, 'postgres'))))
  return Object.fromEntries(probes.map((p) => [p.name, p])) as Record<NodeName, NodeStatus>
}

/** The primary's view of its standbys and of archiving (none when it is not a reachable primary). */
async function primaryViews(site: SiteHandle, state: SiteState, primary: NodeStatus, problems: string[]) {
  if (!primary.reachable || primary.inRecovery) {
    problems.push(`primary ${state.primary} is ${primary.reachable ? 'in recovery' : `unreachable (${primary.error})`}`)
    return { replication: [] as ReplicationView[], archiver: undefined }
  }
  const conn = site.conn(state.primary, 'postgres')
  const [replication, archiver] = await Promise.all([replicationView(conn), archiverView(conn)])
  const [sync] = await query<{ names: string }>(conn, `SELECT current_setting('synchronous_standby_names') AS names`)
  // degraded: a hot standby exists, the policy wants it synchronous, the primary does not wait for it
  const hot = NODE_NAMES.filter((n) => state.roles[n] === 'hot')
  if (site.policy.sites.hot.replication === 'synchronous' && hot.length && !sync?.names)
    problems.push(
      `replication to the hot site (${hot.join(', ')}) is asynchronous although the policy says synchronous (degraded after syncFallback without a standby in sync): commits are acknowledged before any standby has them; local.ts up (or the --watch loop, once the standby streams) makes it synchronous again`,
    )
  return { replication, archiver }
}

function nodeRow(
  site: SiteHandle,
  state: SiteState,
  probes: Record<NodeName, NodeStatus>,
  replication: ReplicationView[],
  n: NodeName,
  problems: string[],
): NodeRow {
  const node = probes[n]
  const role = state.roles[n]
  const rep = replication.find((r) => r.application_name === n)
  const lagBytes = n === state.primary ? 0 : lsnDiff(probes[state.primary].lsn, node.lsn)
  const replayAge = node.lastReplayTs ? (Date.now() - Date.parse(node.lastReplayTs)) / 1000 : null
  const healthy = nodeHealthy(
    role,
    {
      reachable: node.reachable,
      inRecovery: node.inRecovery,
      streaming: rep?.state === 'streaming',
      lagBytes,
      replayAgeSeconds: replayAge,
    },
    site.policy,
  )
  if (role === 'fenced' && node.reachable && node.inRecovery === false)
    problems.push(
      `${n} is FENCED but running as a primary (started by hand?): it gets no traffic through the endpoint, archives nothing and is read-only by default, but a session can still write to it directly; stop it: pg_ctl -D ${site.layout.node(n).data} -m fast stop, then failback.ts`,
    )
  else if (!healthy) problems.push(`${n} (${role}) is not healthy${node.error ? `: ${node.error}` : ''}`)
  const stranded = role === 'warm' && node.reachable ? strandedBefore(serverLog(site.layout.node(n).log)) : undefined
  if (stranded !== undefined)
    problems.push(
      `${n} (warm) replayed past the point where timeline ${stranded} forked and can never follow the primary (the dead primary's last archived segment held WAL the promoted standby never got): local.ts up rebuilds it from the primary`,
    )
  return {
    name: n,
    site: NODE_SITE[n],
    role,
    port: site.port(n),
    pid: postmasterPid(site.layout.node(n).data) ?? null,
    live: node.reachable ? (node.inRecovery ? 'standby' : 'primary') : 'down',
    lsn: node.lsn ?? null,
    timeline: node.timeline ?? null,
    replicationLagBytes: lagBytes ?? null,
    replayLagSeconds: rep?.replay_lag_s ?? (role === 'warm' ? replayAge : null),
    streaming: rep?.state === 'streaming',
    syncState: rep?.sync_state ?? null,
    healthy: healthy && stranded === undefined,
  }
}

function archiveRow(archiver: ArchiverView | undefined, problems: string[]): ArchiveRow | null {
  if (!archiver) return null
  if (archiver.failing) problems.push(`archiving is failing (last failed WAL ${archiver.last_failed_wal})`)
  return archiveFacts(archiver)
}

async function repoRow(site: SiteHandle, repo: number, problems: string[]): Promise<RepoRow> {
  const type = repo === 1 ? 'posix' : 's3'
  const unreachable = (message: string): RepoRow => ({
    index: repo,
    type,
    healthy: false,
    message,
    backups: 0,
    latestBackup: null,
    archiveMax: null,
  })
  const down = await repoDown(site, repo, 'write') // archiving writes: a healthy repo takes writes
  if (down) {
    problems.push(`repo${repo} unreachable: ${down}`)
    return unreachable(down)
  }
  try {
    const info = await site.br.info(repo)
    const r = info.repos.find((x) => x.key === repo)
    const backups = info.backups.filter((b) => b.repoKey === repo)
    const healthy = r?.status === 0
    if (!healthy) problems.push(`repo${repo}: ${r?.message ?? info.message}`)
    return {
      index: repo,
      type,
      healthy,
      message: r?.message ?? info.message,
      backups: backups.length,
      latestBackup: backups.at(-1)?.label ?? null,
      archiveMax: info.archives.find((a) => a.repoKey === repo)?.max ?? null,
    }
  } catch (e) {
    const message = (e as Error).message
    problems.push(`repo${repo} unreachable: ${message.split('\n')[0]}`)
    return unreachable(message.split('\n').slice(0, 3).join(' '))
  }
}

/**
 * The offsite lane: WAL already in repo1 and queued for repo2. A queue older than archive_timeout
 * means repo2 (the cold site's only source) falls behind while repo1 keeps up.
 */
function offsiteQueueRow(site: SiteHandle, problems: string[]): OffsiteQueueRow {
  const dir = site.layout.pgbackrest.outbox
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => !f.startsWith('.'))
        .sort()
    : []
  const oldest = files[0] ?? null
  const oldestAgeSeconds = oldest ? (Date.now() - statSync(join(dir, oldest)).mtimeMs) / 1000 : null
  const limit = archiveTimeoutSeconds(site.policy)
  if (oldestAgeSeconds !== null && oldestAgeSeconds > limit)
    problems.push(
      `repo2 is behind repo1: ${files.length} WAL file(s) queued for it, the oldest (${oldest}) for ${formatDuration(oldestAgeSeconds)} (over archive_timeout, ${limit} s); repo1 is not held up. Check the S3 server; the queue ships by itself once it answers`,
    )
  return { files: files.length, oldest, oldestAgeSeconds }
}

/** Where the endpoint is configured to route, and where a session through it really lands. */
async function endpointRow(site: SiteHandle, state: SiteState, problems: string[]): Promise<EndpointRow> {
  const { layout } = site
  const targetPort = configuredTarget(layout.pgbouncer)
  const target = NODE_NAMES.find((n) => site.port(n) === targetPort) ?? null
  const via = await probe('endpoint', site.endpointConn('postgres'))
  let routesToPort: number | null = null
  if (via.reachable)
    routesToPort =
      (await query<{ p: number }>(site.endpointConn('postgres'), 'SELECT inet_server_port() AS p')).at(0)?.p ?? null
  const running = bouncerRunning(layout.pgbouncer)
  const healthy =
    running &&
    target === state.primary &&
    via.reachable &&
    via.inRecovery === false &&
    routesToPort === site.port(state.primary)
  if (!healthy)
    problems.push(
      `endpoint 127.0.0.1:${layout.ports.endpoint} does not route writes to primary ${state.primary} (target ${target ?? 'none'}${via.reachable ? '' : `, ${via.error}`}); ${
        state.roles[state.primary] === 'fenced'
          ? `${state.primary} is fenced: a failover stopped before it promoted a standby; finish it: npx zx runbooks/failover.ts --yes`
          : `route it to ${state.primary}: npx zx runbooks/local.ts up`
      }`,
    )
  return {
    port: layout.ports.endpoint,
    running,
    target,
    targetPort: targetPort ?? null,
    reachable: via.reachable,
    routesToPort,
    healthy,
  }
}
