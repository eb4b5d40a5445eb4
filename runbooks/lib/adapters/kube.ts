/**
 * The Kubernetes adapter: PGO's PostgresCluster objects, read and patched. Inside a pod (the
 * exporter's Deployment) it talks to the API server with the pod's service-account token and CA
 * (no kubectl in the image); from a workstation it runs `kubectl --context <the node's context>`.
 * The token is a secret: it travels in a header, never in argv or a log.
 */
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import type { Runner } from './exec.ts'
import { registerSecret } from '../output/redact.ts'
import { promotionPatch, type PgoRepo } from '../../../core/pgo.ts'

export interface ClusterRef {
  /** kubectl context; ignored inside a pod, where only the pod's own cluster is reachable */
  context?: string
  namespace: string
  name: string
}

/** What the exporter reads of a PostgresCluster's status (PGO 5.7, status.pgbackrest.scheduledBackups). */
export interface ScheduledBackupStatus {
  cronJobName: string
  repo?: string
  type?: string
  startTime?: string
  completionTime?: string
  active?: number
  succeeded?: number
  failed?: number
}

/** PGO's status of the manual backup asked for by the pgbackrest-backup annotation. */
export interface ManualBackupStatus {
  id: string
  finished: boolean
  active?: number
  succeeded?: number
  failed?: number
  startTime?: string
  completionTime?: string
}

export interface PostgresClusterObject {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> }
  spec?: {
    standby?: { enabled?: boolean }
    backups?: { pgbackrest?: { repos?: PgoRepo[]; global?: Record<string, string> } }
    patroni?: { dynamicConfiguration?: { postgresql?: { pg_hba?: string[] } } }
  }
  status?: {
    pgbackrest?: {
      scheduledBackups?: ScheduledBackupStatus[]
      manualBackup?: ManualBackupStatus
      /** the in-place restore asked for by the pgbackrest-restore annotation (same shape as a manual backup's) */
      restore?: ManualBackupStatus
    }
  }
}

/** PGO's documented annotation that starts the in-place restore spec.backups.pgbackrest.restore describes. */
export const PGO_RESTORE_ANNOTATION = 'postgres-operator.crunchydata.com/pgbackrest-restore'

/** The merge patch of an in-place restore (enabled: false afterwards, so no later annotation repeats it). */
export const inPlaceRestorePatch = (enabled: boolean, repoName: string, options?: string[]) => ({
  spec: { backups: { pgbackrest: { restore: { enabled, repoName, ...(options ? { options } : {}) } } } },
})

/** Ask PGO to restore the cluster in place: describe the restore, then annotate with a new id. */
export function requestInPlaceRestore(
  run: Runner,
  c: ClusterRef,
  r: { repoName: string; options: string[]; id: string },
): Promise<void> {
  return patchAndAnnotate(run, c, inPlaceRestorePatch(true, r.repoName, r.options), PGO_RESTORE_ANNOTATION, r.id)
}

/** Turn the in-place restore off again once it has run. */
export function disableInPlaceRestore(run: Runner, c: ClusterRef) {
  return patch(run, c, inPlaceRestorePatch(false, 'repo1'))
}

/**
 * pg_hba rules through Patroni's dynamic configuration. PGO writes them after its own mandatory
 * rules (replication, the local postgres user) and leaves its defaults out while any are set;
 * null removes them (PGO's defaults come back). Patroni writes pg_hba.conf and reloads.
 */
export const hbaPatch = (rules: string[] | null) => ({
  spec: { patroni: { dynamicConfiguration: { postgresql: { pg_hba: rules } } } },
})

export function setHba(run: Runner, c: ClusterRef, rules: string[] | null) {
  return patch(run, c, hbaPatch(rules))
}

/** PGO's documented annotation that starts the manual backup spec.backups.pgbackrest.manual describes. */
export const PGO_BACKUP_ANNOTATION = 'postgres-operator.crunchydata.com/pgbackrest-backup'

/** The merge patch that describes a manual backup (validated against PGO's CRD in the tests). */
export const manualBackupPatch = (repoName: string, options: string[]) => ({
  spec: { backups: { pgbackrest: { manual: { repoName, options } } } },
})

/** Ask PGO for a manual backup: describe it, then annotate the cluster with a new id (from a workstation). */
export function requestManualBackup(
  run: Runner,
  c: ClusterRef,
  b: { repoName: string; options: string[]; id: string },
): Promise<void> {
  return patchAndAnnotate(run, c, manualBackupPatch(b.repoName, b.options), PGO_BACKUP_ANNOTATION, b.id)
}

const PGO_PATH = (ns: string, name: string) =>
  `/apis/postgres-operator.crunchydata.com/v1beta1/namespaces/${encodeURIComponent(ns)}/postgresclusters/${encodeURIComponent(name)}`

/** Inside a pod: the API server and the service account's files (the directory can be moved for tests). */
export function inCluster(env = process.env): { host: string; port: string; saDir: string } | null {
  if (!env.KUBERNETES_SERVICE_HOST) return null
  return {
    host: env.KUBERNETES_SERVICE_HOST,
    port: env.KUBERNETES_SERVICE_PORT ?? '443',
    saDir: env.LABDOJO_KUBE_SA_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount',
  }
}

function apiGet(api: NonNullable<ReturnType<typeof inCluster>>, path: string, timeoutMs: number): Promise<unknown> {
  const token = readFileSync(join(api.saDir, 'token'), 'utf8').trim()
  registerSecret(token)
  const ca = readFileSync(join(api.saDir, 'ca.crt'))
  return new Promise((resolve, reject) => {
    const req = request(
      { host: api.host, port: api.port, path, ca, headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => {
          if (res.statusCode !== 200)
            return reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200).replace(/\s+/g, ' ')}`))
          try {
            resolve(JSON.parse(body))
          } catch (e) {
            reject(new Error(`GET ${path}: not JSON (${(e as Error).message})`))
          }
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** kubectl against one cluster's namespace, from a workstation (the node's kube context). */
function kubectl(run: Runner, c: ClusterRef, args: string[], timeoutMs = 30_000) {
  return run('kubectl', [...(c.context ? ['--context', c.context] : []), '-n', c.namespace, ...args], { timeoutMs })
}

/** A merge patch of the PostgresCluster. */
function patch(run: Runner, c: ClusterRef, body: object, timeoutMs = 30_000) {
  return kubectl(run, c, ['patch', 'postgrescluster', c.name, '--type', 'merge', '-p', JSON.stringify(body)], timeoutMs)
}

/** PGO's request pattern: describe the job in the spec, then annotate the cluster with a new id. */
async function patchAndAnnotate(run: Runner, c: ClusterRef, body: object, annotation: string, id: string) {
  await patch(run, c, body)
  await kubectl(run, c, ['annotate', 'postgrescluster', c.name, '--overwrite', `${annotation}=${id}`])
}

export async function getPostgresCluster(
  run: Runner,
  c: ClusterRef,
  timeoutMs = 10_000,
): Promise<PostgresClusterObject> {
  const api = inCluster()
  if (api) return (await apiGet(api, PGO_PATH(c.namespace, c.name), timeoutMs)) as PostgresClusterObject
  const r = await kubectl(run, c, ['get', 'postgrescluster', c.name, '-o', 'json'], timeoutMs)
  return JSON.parse(r.stdout) as PostgresClusterObject
}

/** PGO's documented shutdown (spec.shutdown: true): every instance of the cluster stops (a fence for a deposed primary). */
export function shutdownCluster(run: Runner, c: ClusterRef) {
  return patch(run, c, { spec: { shutdown: true } })
}

/**
 * PGO: a standby cluster becomes a primary when spec.standby.enabled turns false (from a
 * workstation); its replay-only repos leave its configuration in the same patch (core/pgo.ts).
 */
export async function promoteStandbyCluster(run: Runner, c: ClusterRef) {
  const o = await getPostgresCluster(run, c)
  return patch(run, c, promotionPatch(o), 60_000)
}

/** The PGO cluster (always named labdojo) an inventory node runs in. */
export function clusterOf(n: { kubeContext?: string; namespace?: string }): ClusterRef {
  return { context: n.kubeContext, namespace: n.namespace ?? 'labdojo', name: 'labdojo' }
}
