/**
 * The twin's stand-in for one region's Kubernetes API server, as far as the runbooks use it
 * (kubectl get/patch/annotate of the PostgresCluster; Secrets are PGO's, in the cluster's
 * status file): discovery, GET, and merge PATCH validated against PGO 5.7.4's CRD, then
 * reconciled as PGO reconciles it (pgo.ts): `standby.enabled: false` promotes the standby
 * cluster through Patroni, `shutdown: true` stops its instances, `shutdown: false` starts them.
 * It runs inside its region's namespace (a region cut off loses its API too): plain HTTP for the
 * workstation's kubectl, and the in-cluster port (443, TLS, service-account tokens, the program's
 * RBAC: in-cluster.ts) for the pods.
 * It is the one writer of the stored object (<site>/k8s/postgrescluster.json).
 * usage: tsx kube-api.ts STATE_DIR SITE LISTEN_IP PORT IN_CLUSTER_IP
 */
import { readBody } from './processes.ts'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../../adapters/exec.ts'
import { mergePatch, postgresClusterValidator } from './crd.ts'
import { awsKey, loadTwin } from './twin.ts'
import { writeInstanceBackrest } from './backrest.ts'
import { manualBackup, promoteCluster, startCluster, stopInstances, type TwinCluster } from './pgo.ts'
import { applyDynamicConfiguration, restoreInPlace } from './pgo-spec.ts'
import type { PgoSpec } from '../../../../core/pgo.ts'
import { allowed, apiTlsDir, IN_CLUSTER_PORT, readTokens } from './in-cluster.ts'

const [stateDir, siteName, listenIp, port, inClusterIp] = process.argv.slice(2)
const twin = loadTwin(stateDir!)
const cluster = twin?.clusters.find((c) => c.layout.site === siteName)
if (!twin || !cluster) {
  process.stderr.write(`kube-api: no twin site ${siteName} in ${stateDir}\n`)
  process.exit(2)
}
const GROUP = 'postgres-operator.crunchydata.com'
const VERSION = 'v1beta1'
const store = join(cluster.layout.dir, 'k8s', 'postgrescluster.json')
const validate = postgresClusterValidator()

interface Stored {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace: string
    annotations?: Record<string, string>
    resourceVersion?: string
    labels?: Record<string, string>
  }
  spec: PgoSpec & Record<string, unknown>
  status?: Record<string, unknown>
}

function load(): Stored {
  if (existsSync(store)) return JSON.parse(readFileSync(store, 'utf8')) as Stored
  const rendered = twin!.rendered.objects.find(
    (o) => o.type.endsWith(':PostgresCluster') && o.object.metadata.labels?.['labdojo.com/site'] === siteName,
  )!.object as unknown as Stored
  return { ...rendered, metadata: { ...rendered.metadata, resourceVersion: '1' }, status: {} }
}
function save(o: Stored): void {
  mkdirSync(join(cluster!.layout.dir, 'k8s'), { recursive: true })
  writeFileSync(store, JSON.stringify(o, null, 2))
}

const send = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}
const status = (res: ServerResponse, code: number, reason: string, message: string) =>
  send(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code })

const DISCOVERY: Record<string, unknown> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
  '/apis': {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [
      {
        name: GROUP,
        versions: [{ groupVersion: `${GROUP}/${VERSION}`, version: VERSION }],
        preferredVersion: { groupVersion: `${GROUP}/${VERSION}`, version: VERSION },
      },
    ],
  },
  '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [] },
  [`/apis/${GROUP}/${VERSION}`]: {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${GROUP}/${VERSION}`,
    resources: [
      {
        name: 'postgresclusters',
        singularName: 'postgrescluster',
        namespaced: true,
        kind: 'PostgresCluster',
        verbs: ['get', 'list', 'patch', 'update', 'watch'],
      },
      {
        name: 'postgresclusters/status',
        singularName: '',
        namespaced: true,
        kind: 'PostgresCluster',
        verbs: ['get', 'patch', 'update'],
      },
    ],
  },
  '/version': { major: '1', minor: '30', gitVersion: 'v1.30.0-labdojo-twin', platform: 'linux/amd64' },
}

const OBJECT = new RegExp(`^/apis/${GROUP}/${VERSION}/namespaces/([^/]+)/postgresclusters/([^/]+)$`)

/** PGO's reconcile of what changed (its own Go code, simulated; what it hands Patroni runs for real). */
async function reconcile(before: Stored, after: Stored, c: TwinCluster): Promise<void> {
  c.spec = after.spec
  // PGO rewrites the pgBackRest ConfigMap the instances mount (the repos and their options changed)
  if (JSON.stringify(before.spec.backups) !== JSON.stringify(after.spec.backups))
    for (const i of c.layout.instances) writeInstanceBackrest(twin!, c, i, awsKey(twin!))
  if (before.spec.shutdown !== true && after.spec.shutdown === true) await stopInstances(c.layout)
  if (before.spec.shutdown === true && after.spec.shutdown !== true) startCluster(c)
  if (before.spec.standby?.enabled && after.spec.standby?.enabled === false) await promoteCluster(run, c)
  if (
    JSON.stringify(before.spec.patroni?.dynamicConfiguration) !==
    JSON.stringify(after.spec.patroni?.dynamicConfiguration)
  )
    await applyDynamicConfiguration(c)
  const id = after.metadata.annotations?.[BACKUP_ANNOTATION]
  if (id && id !== before.metadata.annotations?.[BACKUP_ANNOTATION]) startManualBackup(c, id, after.spec)
  const rid = after.metadata.annotations?.[RESTORE_ANNOTATION]
  if (rid && rid !== before.metadata.annotations?.[RESTORE_ANNOTATION]) await runRestore(c, rid, after.spec)
}

/** internal/naming/annotations.go: the in-place restore's trigger. */
const RESTORE_ANNOTATION = 'postgres-operator.crunchydata.com/pgbackrest-restore'

/**
 * reconcileRestoreJob: a new annotation value with spec.backups.pgbackrest.restore enabled runs
 * the in-place restore (pgo.ts); status.pgbackrest.restore follows it by that id. Disabled, PGO
 * starts nothing. The reconcile loop waits for it: nothing else may touch the cluster meanwhile.
 */
async function runRestore(c: TwinCluster, id: string, spec: Stored['spec']): Promise<void> {
  const restore = spec.backups?.pgbackrest?.restore
  if (!restore?.enabled || !restore.repoName) return
  const startTime = new Date().toISOString()
  setStatus({ restore: { id, finished: false, active: 1, startTime } })
  const r = await restoreInPlace(run, c, restore.repoName, restore.options ?? []).catch((e: Error) => ({
    ok: false,
    output: e.message,
  }))
  if (!r.ok) process.stderr.write(`restore ${id} failed: ${r.output}\n`)
  setStatus({
    restore: {
      id,
      finished: true,
      active: 0,
      ...(r.ok ? { succeeded: 1 } : { failed: 1 }),
      startTime,
      completionTime: new Date().toISOString(),
    },
  })
}

/** internal/naming/annotations.go: the manual backup's trigger. */
const BACKUP_ANNOTATION = 'postgres-operator.crunchydata.com/pgbackrest-backup'

/** Merge into the stored object's status (the API server's status subresource; PGO is its writer). */
function setStatus(pgbackrest: Record<string, unknown>): void {
  const o = load()
  o.status = { ...o.status, pgbackrest: { ...(o.status?.pgbackrest as object | undefined), ...pgbackrest } }
  save(o)
}

/**
 * controller/postgrescluster/pgbackrest.go reconcileManualBackup: a new annotation value with
 * spec.backups.pgbackrest.manual set starts a Job (pgBackRest backup in the primary's pod);
 * status.pgbackrest.manualBackup follows it by that id. Without `manual`, PGO starts nothing.
 * The job runs beside the reconcile loop, as a Job runs beside the controller.
 */
function startManualBackup(c: TwinCluster, id: string, spec: Stored['spec']): void {
  const manual = spec.backups?.pgbackrest?.manual
  if (!manual) return
  const startTime = new Date().toISOString()
  setStatus({ manualBackup: { id, finished: false, active: 1, startTime } })
  void manualBackup(run, c, manual.repoName, manual.options ?? []).then(
    (r) => {
      if (r.code !== 0) process.stderr.write(`manual backup ${id} failed: ${r.stderr.trim()}\n`)
      setStatus({
        manualBackup: {
          id,
          finished: true,
          active: 0,
          ...(r.code === 0 ? { succeeded: 1 } : { failed: 1 }),
          startTime,
          completionTime: new Date().toISOString(),
        },
      })
    },
    (e: Error) => {
      process.stderr.write(`manual backup ${id}: ${e.message}\n`)
      setStatus({ manualBackup: { id, finished: true, active: 0, failed: 1, startTime } })
    },
  )
}

let reconciling: Promise<void> = Promise.resolve()

/**
 * One request. `user` is the authenticated account of an in-cluster request (the pods' port),
 * authorized by the program's RBAC; the workstation's port (kubectl, the operator) is unchecked.
 */
async function handle(req: IncomingMessage, res: ServerResponse, user?: string): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname
  if (req.method === 'GET' && path in DISCOVERY) return send(res, 200, DISCOVERY[path])
  const m = OBJECT.exec(path)
  if (!m) return status(res, 404, 'NotFound', `the server could not find the requested resource (${path})`)
  const verb = req.method === 'GET' ? 'get' : req.method === 'PATCH' ? 'patch' : (req.method ?? '').toLowerCase()
  if (
    user &&
    !allowed(twin!.rendered, siteName!, { user, namespace: m[1]!, group: GROUP, resource: 'postgresclusters', verb })
  )
    return status(
      res,
      403,
      'Forbidden',
      `postgresclusters.${GROUP} "${m[2]}" is forbidden: User "${user}" cannot ${verb} resource "postgresclusters" in API group "${GROUP}" in the namespace "${m[1]}"`,
    )
  const current = load()
  if (m[1] !== current.metadata.namespace || m[2] !== current.metadata.name)
    return status(res, 404, 'NotFound', `postgresclusters.${GROUP} "${m[2]}" not found`)
  if (req.method === 'GET') return send(res, 200, current)
  if (req.method !== 'PATCH') return status(res, 405, 'MethodNotAllowed', `${req.method} is not supported here`)
  const type = req.headers['content-type'] ?? ''
  if (!/merge-patch\+json/.test(type))
    return status(res, 415, 'UnsupportedMediaType', `${type}: a custom resource takes a merge patch`)
  let patch: unknown
  try {
    patch = JSON.parse(await readBody(req))
  } catch (e) {
    return status(res, 400, 'BadRequest', `the patch is not JSON: ${(e as Error).message}`)
  }
  const next = mergePatch(current, patch) as Stored
  if (!validate(next))
    return status(
      res,
      422,
      'Invalid',
      `PostgresCluster.${GROUP} "${current.metadata.name}" is invalid: ${JSON.stringify(validate.errors?.slice(0, 3))}`,
    )
  next.metadata.resourceVersion = String(Number(current.metadata.resourceVersion ?? '1') + 1)
  save(next)
  send(res, 200, next)
  // PGO reconciles after the API server answered: kubectl patch returns before the promotion ends
  reconciling = reconciling
    .then(() => reconcile(current, next, cluster!))
    .catch((e) => {
      process.stderr.write(`reconcile failed: ${(e as Error).message}\n`)
    })
}

createServer((req, res) => void handle(req, res)).listen(Number(port), listenIp)

// the in-cluster address (KUBERNETES_SERVICE_HOST:443): TLS, a bearer token, RBAC
const tls = apiTlsDir(cluster.layout)
createHttpsServer({ cert: readFileSync(join(tls, 'tls.crt')), key: readFileSync(join(tls, 'tls.key')) }, (req, res) => {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
  const user = token ? readTokens(cluster.layout)[token] : undefined
  if (!user) return status(res, 401, 'Unauthorized', 'Unauthorized')
  void handle(req, res, user)
}).listen(IN_CLUSTER_PORT, inClusterIp)
