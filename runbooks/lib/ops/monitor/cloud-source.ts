/**
 * The exporter's readings of a cloud stack, from its inventory: every node probed over libpq
 * (the live primary is the one that answers out of recovery), the primary's archiver and
 * standbys, the endpoint (it routes to the node whose system and timeline it answers with), the
 * vaults read with pgBackRest (cloud-catalog.ts), and PGO's scheduled backup jobs from the
 * PostgresCluster status. Inside a pod only the pod's own cluster's jobs are readable
 * (LABDOJO_SITE names it); from a workstation, every node's cluster through its kube context.
 * Storage capacity is not a fact an object store has (the bucket-size alarm watches it), and the
 * evidence ledger lives offsite: neither is exported from here rather than invented.
 */
import { endpointConn, nodeConn, type Inventory, type PgNode } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { lsnDiff } from '../../../../core/wal.ts'
import type { Runner } from '../../adapters/exec.ts'
import { clusterOf, getPostgresCluster, inCluster, type ClusterRef } from '../../adapters/kube.ts'
import { archiveFacts, archiverView, replicationView } from '../../adapters/pg-views.ts'
import { probe, type NodeStatus } from '../../adapters/postgres.ts'
import { cloudCatalog } from '../catalog/cloud-catalog.ts'
import { putMetricData } from '../../adapters/cloudwatch.ts'
import { PRIMARY_UP_METRIC } from '../../../../core/alerts.ts'
import { log } from '../../output/log.ts'
import { primaryAnswers, type BackupRun, type MonitorSource, type NodeReading, type StatusReading } from './source.ts'

export function cloudSource(inv: Inventory, policy: DrPolicy, run: Runner, env = process.env): MonitorSource {
  return {
    policy,
    status: () => cloudStatus(inv, env),
    catalog: () => cloudCatalog(run, inv, policy),
    storage: () => null,
    backupRuns: () => pgoBackupRuns(run, clustersToRead(inv, env)),
    evidenceFile: null,
    ...(env.LABDOJO_CLOUDWATCH_NAMESPACE ? { publish: (s) => publishPrimaryUp(inv, s, env) } : {}),
  }
}

/**
 * PrimaryUp (1: this observer sees the provisioned primary answer as a primary; 0: it does not,
 * or nothing answers): every region's exporter publishes it, and the failover record's health
 * check turns unhealthy only when no observer sees the primary (the alarm takes the maximum), so
 * one observer's partition does not move DNS.
 */
async function publishPrimaryUp(inv: Inventory, s: StatusReading | null, env: NodeJS.ProcessEnv): Promise<void> {
  const provisioned = inv.nodes.find((n) => n.role === 'primary')
  const reading = s?.nodes.find((n) => n.name === provisioned?.name)
  // a primary that answers but refuses this exporter's login is alive: DNS must not move on a login problem
  if (reading?.live === 'refused')
    log.warn(
      `${provisioned?.name} answers but refuses the exporter's login (user, password, TLS): PrimaryUp stays 1; fix the login`,
    )
  const up = primaryAnswers(reading) ? 1 : 0
  // every observer publishes to the one region the alarm lives in (the hot site's)
  await putMetricData(
    env.LABDOJO_CLOUDWATCH_REGION ?? env.AWS_REGION ?? 'us-east-1',
    env.LABDOJO_CLOUDWATCH_NAMESPACE!,
    [{ name: PRIMARY_UP_METRIC, value: up, dimensions: { Stack: inv.stack } }],
    env,
  )
}

/**
 * The exporter logs in as the user its Secret names (PGUSER, with PGPASSWORD: the monitoring
 * user, pg_monitor only); from a workstation, as the inventory's user.
 */
const asExporter = <C extends object>(env: NodeJS.ProcessEnv, c: C) => ({
  ...c,
  ...(env.PGUSER ? { user: env.PGUSER } : {}),
})
const loginOf = (env: NodeJS.ProcessEnv) => (n: PgNode) => asExporter(env, nodeConn(n))

async function cloudStatus(inv: Inventory, env: NodeJS.ProcessEnv): Promise<StatusReading> {
  const login = loginOf(env)
  const probes = await Promise.all(inv.nodes.map((n) => probe(n.name, login(n), 5000)))
  const live = (i: number) => probes[i]!.reachable && probes[i]!.inRecovery === false
  // the live primary: the provisioned one if it answers as a primary, else any node that does
  const at = inv.nodes.findIndex((n, i) => n.role === 'primary' && live(i))
  const pi = at >= 0 ? at : inv.nodes.findIndex((_, i) => live(i))
  const primary = pi >= 0 ? inv.nodes[pi]! : inv.nodes.find((n) => n.role === 'primary')
  const p = pi >= 0 ? probes[pi]! : undefined
  const [replication, archiver] = p
    ? await Promise.all([replicationView(login(primary!)), archiverView(login(primary!))])
    : [[], undefined]
  const nodes = inv.nodes.map((n, i): NodeReading => {
    const s = probes[i]!
    const rep = replication.find((r) => r.application_name === n.name)
    // the nodes are read at once: a standby can have replayed past where the primary stood when it
    // answered, which is no lag at all (never a negative one)
    const diff = p && s.reachable && n !== primary ? lsnDiff(p.lsn, s.lsn) : null
    const lagBytes = n === primary ? 0 : diff === null || diff === undefined ? null : Math.max(0, diff)
    // a standby cluster in another region is not in the primary's pg_stat_replication under its
    // inventory name: its lag in time is how old its last replayed commit is, unless it has everything
    const replayAge = s.lastReplayTs ? Math.max(0, (Date.now() - Date.parse(s.lastReplayTs)) / 1000) : null
    return {
      name: n.name,
      role: n === primary ? 'primary' : n.site,
      live: s.reachable ? (s.inRecovery ? 'standby' : 'primary') : s.refused ? 'refused' : 'down',
      replicationLagBytes: lagBytes,
      replayLagSeconds: n === primary ? null : (rep?.replay_lag_s ?? (lagBytes === 0 ? 0 : replayAge)),
      syncState: rep?.sync_state ?? null,
    }
  })
  return {
    primary: primary?.name ?? 'primary',
    nodes,
    endpoint: { target: await endpointTarget(inv, env, p && primary ? { node: primary, status: p } : undefined) },
    archive: archiver ? archiveFacts(archiver) : null,
    repos: [], // the catalog's reading says which vaults answer
    offsiteQueue: null,
  }
}

/** The node the endpoint routes to: it answers as a primary of the same system, on the same timeline. */
async function endpointTarget(
  inv: Inventory,
  env: NodeJS.ProcessEnv,
  primary?: { node: PgNode; status: NodeStatus },
): Promise<string | null> {
  if (!primary) return null
  const ep = await probe('endpoint', asExporter(env, endpointConn(inv)), 5000)
  const same =
    ep.reachable &&
    ep.inRecovery === false &&
    ep.systemId === primary.status.systemId &&
    ep.timeline === primary.status.timeline
  return same ? primary.node.name : null
}

/** The PGO clusters whose backup jobs this exporter reads (each once). */
export function clustersToRead(inv: Inventory, env = process.env): ClusterRef[] {
  const nodes = inCluster(env)
    ? inv.nodes.filter((n) => n.site === env.LABDOJO_SITE).map((n) => ({ ...n, kubeContext: undefined }))
    : inv.nodes.filter((n) => n.kubeContext)
  const refs = nodes.map(clusterOf)
  return refs.filter((r, i) => refs.findIndex((x) => x.context === r.context && x.namespace === r.namespace) === i)
}

/** Finished scheduled backups (PGO keeps the latest job of each schedule): one run each, keyed by job and start. */
async function pgoBackupRuns(run: Runner, clusters: ClusterRef[]): Promise<BackupRun[]> {
  const out: BackupRun[] = []
  for (const c of clusters) {
    const pc = await getPostgresCluster(run, c)
    for (const b of pc.status?.pgbackrest?.scheduledBackups ?? []) {
      // still running, or not started: not a run yet; a job that failed a pod and then succeeded did back up
      if (b.active || (!b.succeeded && !b.failed)) continue
      const type = b.type ?? /-(full|diff|incr)$/.exec(b.cronJobName)?.[1] ?? 'unknown'
      out.push({
        key: `${c.context ?? ''}/${c.namespace}/${b.cronJobName}@${b.startTime ?? ''}`,
        type,
        ok: (b.succeeded ?? 0) > 0,
      })
    }
  }
  return out
}
