/**
 * The twin's stand-in for PGO's controller, one PostgresCluster at a time. Only PGO's own Go
 * code is simulated: what it hands to Patroni, PostgreSQL and etcd runs for real. Per cluster:
 * an etcd (PGO uses the Kubernetes API as Patroni's DCS; etcd is the nearest real one), one
 * Patroni per instance with the configuration PGO would write (internal/patroni/config.go, with
 * core/pgo.ts's rules), the primary Service, then the users and their Secrets
 * (controller/postgrescluster/postgres.go) and spec.databaseInitSQL once the cluster is writable.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import type { Runner } from '../../adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import { startOnce, stopOnce } from './processes.ts'
import { scramVerifier } from '../../adapters/postgres.ts'
import { clusterMembers, patchConfig, type PatroniApi, type PatroniMember } from '../../adapters/patroni.ts'
import {
  PGO_DEFAULTS,
  PGO_STANZA,
  REPLICATION_USER,
  patroniDynamic,
  pgoDatabases,
  pgoHba,
  pgoParameters,
  pgoUsers,
  userSchemaStatements,
  userSecret,
  writeUsersStatements,
} from '../../../../core/pgo.ts'
import { clusterTls, ETCD_PORT, PATRONI_PORT, PG_PORT, type TwinInstance, type TwinSiteLayout } from './layout.ts'
import { backrest, backrestEnv } from './backrest.ts'
import type { TwinCluster } from './rendered.ts'

export const PG_BIN = '/usr/lib/postgresql/15/bin'
const PROXY = fileURLToPath(new URL('./service-proxy.mjs', import.meta.url))
/** internal/naming/names.go PatroniScope: <cluster>-ha */
export const SCOPE = 'labdojo-ha'

export type { TwinCluster } from './rendered.ts'

/** An instance's REST API over TLS; PGO's own calls present the instance's certificate (config.go `ctl`). */
export const patroniApi = (s: TwinSiteLayout, i: TwinInstance): PatroniApi => ({
  url: `https://${i.ip}:${PATRONI_PORT}`,
  ...clusterTls(s),
})

/** The configuration PGO writes for an instance (config.go clusterYAML + instanceYAML), with the twin's paths. */
export function patroniConfig(
  c: TwinCluster,
  i: TwinInstance,
  o: { existing?: boolean } = {},
): Record<string, unknown> {
  const s = c.layout
  const parameters = pgoParameters(c.spec, {
    socketDir: i.socketDir,
    tls: { cert: c.tls.cert, key: c.tls.key, ca: c.tls.ca },
  })
  const replication = {
    username: REPLICATION_USER,
    sslmode: 'verify-ca',
    sslcert: c.replication.cert,
    sslkey: c.replication.key,
    sslrootcert: c.replication.ca,
  }
  return {
    scope: SCOPE,
    name: i.name,
    etcd3: { hosts: [`${s.hostIp}:${ETCD_PORT}`] },
    // config.go clusterYAML: the REST API over TLS, clients verified against the CA, a client
    // certificate required on the unsafe endpoints only ("optional": Kubernetes' HTTPS probes
    // present none); patronictl and the members' own calls verify the server and present one.
    // PGO bundles the key into certfile; here the secret's two files
    restapi: {
      listen: `${i.ip}:${PATRONI_PORT}`,
      connect_address: `${i.ip}:${PATRONI_PORT}`,
      cafile: c.tls.ca,
      certfile: c.tls.cert,
      keyfile: c.tls.key,
      verify_client: 'optional',
    },
    ctl: { cacert: c.tls.ca, certfile: c.tls.cert, keyfile: c.tls.key, insecure: false },
    bootstrap: {
      dcs: patroniDynamic(c.spec, parameters, pgoHba(c.spec)),
      // config.go instanceYAML: after an in-place restore the restored data is the new cluster
      // ("existing", moved back from <data>_bootstrap); else initdb, checksums on, UTF8
      ...(o.existing
        ? { method: 'existing', existing: { command: `mv '${i.data}_bootstrap' '${i.data}'`, no_params: true } }
        : { method: 'initdb', initdb: ['data-checksums', { encoding: 'UTF8' }] }),
    },
    postgresql: {
      listen: `${i.ip}:${PG_PORT}`,
      connect_address: `${i.ip}:${PG_PORT}`,
      data_dir: i.data,
      bin_dir: PG_BIN,
      pgpass: join(i.dir, 'pgpass'),
      // config.go: local connections over the socket (peer, as postgres: hba.go's mandatory local rule)
      use_unix_socket: true,
      authentication: { superuser: { username: 'postgres' }, replication, rewind: replication },
      // the instance's own socket directory (PGO's is the same path in every pod)
      parameters: { unix_socket_directories: i.socketDir },
      ...replicaMethods(c, i),
    },
    watchdog: { mode: 'off' },
  }
}

/**
 * config.go instanceYAML: with a repo, a replica is restored from it before it is copied from
 * the leader (pgBackRest's delta restore, into a data directory it creates). Which repo is
 * internal/pgbackrest/config.go ReplicaCreateCommand's: a standby cluster's `standby.repoName`
 * (it also bootstraps the standby leader), else the repo holding the replica-create backup (the
 * first: reconcileBackrest's).
 */
function replicaMethods(c: TwinCluster, i: TwinInstance): Record<string, unknown> {
  const name = c.spec.standby?.enabled ? c.spec.standby.repoName : c.spec.backups?.pgbackrest?.repos?.[0]?.name
  if (!name) return { create_replica_methods: ['basebackup'] }
  const restore = `install --directory --mode=0700 '${i.data}' && exec pgbackrest restore --delta --stanza=${PGO_STANZA} --repo=${name.replace(/^repo/, '')}`
  return {
    create_replica_methods: ['pgbackrest', 'basebackup'],
    pgbackrest: { command: `bash -ceu -- "${restore}"`, keep_data: true, no_master: true, no_params: true },
  }
}

export async function startCluster(c: TwinCluster, o: { existing?: TwinInstance } = {}): Promise<void> {
  const s = c.layout
  mkdirForSiteUser(s.dir, 0o700)
  startOnce({ dir: join(s.dir, 'etcd'), name: 'etcd', ns: s.ns, as: 'postgres', cmd: 'etcd', args: etcdArgs(s) })
  // after a restore only the restored instance starts (PGO's status.startupInstance): another would initdb a new cluster
  for (const i of o.existing ? [o.existing] : s.instances) {
    mkdirForSiteUser(i.socketDir, 0o700)
    const cfg = join(i.dir, 'patroni.yml')
    writeFileSync(cfg, JSON.stringify(patroniConfig(c, i, { existing: o.existing === i }), null, 2), { mode: 0o600 })
    giveToSiteUser(cfg)
    // PostgreSQL inherits Patroni's environment: PGO's archive_command finds the instance's pgBackRest configuration
    startOnce({
      dir: i.dir,
      name: 'patroni',
      ns: s.ns,
      as: 'postgres',
      cmd: 'patroni',
      args: [cfg],
      env: backrestEnv(i),
    })
  }
  const ips = s.instances.map((i) => i.ip)
  const args = [PROXY, `${s.serviceIp}:${PG_PORT}`, String(PG_PORT), String(PATRONI_PORT), clusterTls(s).ca, ...ips]
  startOnce({
    dir: join(s.dir, 'service'),
    name: 'service-proxy',
    ns: s.ns,
    as: 'postgres',
    cmd: process.execPath,
    args,
  })
}

function etcdArgs(s: TwinSiteLayout): string[] {
  const client = `http://${s.hostIp}:${ETCD_PORT}`
  const peer = 'http://127.0.0.1:2380'
  return [
    '--name',
    s.site,
    '--data-dir',
    join(s.dir, 'etcd', 'data'),
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `${s.site}=${peer}`,
  ]
}

/** The region's Kubernetes API stand-in (kube-api.ts), as root inside the region, on the namespace's own address. */
export const KUBE_API_PORT = 6443
const KUBE_API = fileURLToPath(new URL('./kube-api.ts', import.meta.url))
export function startKubeApi(s: TwinSiteLayout, stateDir: string): void {
  const args = [stateDir, s.site, s.hostIp, String(KUBE_API_PORT), s.apiIp]
  startOnce({ dir: join(s.dir, 'k8s'), name: 'kube-api', ns: s.ns, as: 'root', cmd: KUBE_API, args, typescript: true })
}

/** PGO's shutdown: every instance stops (Patroni stops its PostgreSQL); the DCS, Service and API stay. */
export async function stopInstances(s: TwinSiteLayout): Promise<void> {
  await Promise.all(s.instances.map((i) => stopOnce(i.dir, 'patroni', { graceMs: 60_000 })))
}

/** Stop every process of the cluster (Patroni stops its PostgreSQL on SIGTERM), by pid. */
export async function stopCluster(s: TwinSiteLayout): Promise<void> {
  await stopOnce(join(s.dir, 'k8s'), 'kube-api')
  await stopInstances(s)
  await stopOnce(join(s.dir, 'service'), 'service-proxy')
  await stopOnce(join(s.dir, 'etcd'), 'etcd')
}

/** The members as Patroni sees them (from the first instance that answers). */
export async function members(s: TwinSiteLayout): Promise<PatroniMember[] | null> {
  for (const i of s.instances) {
    const m = await clusterMembers(patroniApi(s, i))
    if (m) return m
  }
  return null
}

export const leaderOf = (m: PatroniMember[] | null) =>
  m?.find((x) => (x.role === 'leader' || x.role === 'standby_leader') && x.state === 'running')

/** Wait until the cluster has a running leader (and, when asked, every instance runs). */
export async function waitReady(s: TwinSiteLayout, o: { all: boolean; timeoutMs: number }): Promise<PatroniMember[]> {
  const until = Date.now() + o.timeoutMs
  let last: PatroniMember[] | null = null
  while (Date.now() < until) {
    last = await members(s)
    const running = last?.filter((x) => x.state === 'running' || x.state === 'streaming') ?? []
    if (leaderOf(last) && (!o.all || running.length === s.instances.length)) return last!
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(
    `the ${s.site} cluster is not ready after ${o.timeoutMs / 1000} s (members: ${JSON.stringify(last)}); logs: ${s.instances.map((i) => join(i.dir, 'patroni.log')).join(', ')}`,
  )
}

const ident = (x: string) => `"${x.replace(/"/g, '""')}"`
const literal = (x: string) => `'${x.replace(/'/g, "''")}'`

/** psql as postgres over the leader's socket (peer: hba.go's mandatory local rule); SQL on stdin. */
async function psql(run: Runner, i: TwinInstance, database: string, sql: string, extra: string[] = []) {
  return run(
    'psql',
    [
      '-X',
      '-q',
      ...extra,
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      i.socketDir,
      '-p',
      String(PG_PORT),
      '-U',
      'postgres',
      '-d',
      database,
    ],
    { asSiteUser: true, input: sql },
  )
}

export interface ClusterStatus {
  /** the Secrets PGO keeps, by user (password and verifier) */
  secrets: Record<string, { user: string; password: string; verifier: string; dbname?: string }>
  usersWritten: boolean
  databaseInitSQL: boolean
  /** status.pgbackrest.repos[].stanzaCreated, and the replica-create backup PGO takes once (status.pgbackrest.repoHost is not ours) */
  stanzaCreated?: boolean
  replicaCreateBackupComplete?: boolean
}

const statusFile = (s: TwinSiteLayout) => join(s.dir, 'pgo-status.json')
export function readStatus(s: TwinSiteLayout): ClusterStatus {
  return existsSync(statusFile(s))
    ? (JSON.parse(readFileSync(statusFile(s), 'utf8')) as ClusterStatus)
    : { secrets: {}, usersWritten: false, databaseInitSQL: false }
}
function writeStatus(s: TwinSiteLayout, st: ClusterStatus): void {
  mkdirSync(s.dir, { recursive: true })
  writeFileSync(statusFile(s), JSON.stringify(st, null, 2), { mode: 0o600 })
}

/**
 * PGO's reconcile of users, databases and databaseInitSQL: the Secrets always (an existing one
 * kept, a missing one generated); the SQL only where the cluster is writable (a standby
 * cluster's leader is not: it gets its users once promoted).
 */
export async function reconcileUsers(run: Runner, c: TwinCluster): Promise<ClusterStatus> {
  const s = c.layout
  const st = readStatus(s)
  for (const u of pgoUsers(c.spec, 'labdojo'))
    st.secrets[u.name] = userSecret(
      st.secrets[u.name] ?? c.givenSecrets[u.name],
      u,
      { host: s.serviceIp, port: c.spec.port ?? PGO_DEFAULTS.port },
      { password: () => randomBytes(18).toString('base64url'), verifier: (p) => scramVerifier(p) },
    )
  const leader = leaderOf(await members(s))
  const writable = leader?.role === 'leader'
  const at = s.instances.find((i) => i.name === leader?.name)
  if (writable && at) {
    for (const db of pgoDatabases(c.spec, 'labdojo'))
      await psql(
        run,
        at,
        'postgres',
        `SELECT 'CREATE DATABASE ${ident(db)}' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${literal(db)})\n\\gexec\n`,
      )
    const verifiers = Object.fromEntries(Object.entries(st.secrets).map(([u, x]) => [u, x.verifier]))
    const stmts = writeUsersStatements(pgoUsers(c.spec, 'labdojo'), verifiers, { ident, literal })
    await psql(run, at, 'postgres', stmts.map((x) => `${x};`).join('\n') + '\n')
    if (c.autoCreateUserSchema)
      for (const x of userSchemaStatements(pgoUsers(c.spec, 'labdojo'), ident))
        await psql(run, at, x.database, x.sql + '\n')
    st.usersWritten = true
    if (c.initSql && !st.databaseInitSQL) {
      await psql(run, at, 'postgres', c.initSql)
      st.databaseInitSQL = true
    }
    // the twin's own step, not PGO's: a standby cluster's basebackup asks for a spread checkpoint,
    // which paces these writes over minutes; flushed now, it ends at once
    await psql(run, at, 'postgres', 'CHECKPOINT;\n')
  }
  writeStatus(s, st)
  return st
}

/**
 * PGO's pgBackRest reconcile on a writable cluster (internal/controller/postgrescluster/pgbackrest.go):
 * stanza-create in the primary's pod once (never in a standby cluster, whose repo may be its
 * primary's), then one full backup to the first repo, which replicas can be created from
 * (reconcileReplicaCreateBackup). Both are PGO's exec into the primary; here pgBackRest runs as
 * postgres in the leader's region, with the leader's configuration.
 */
export async function reconcileBackrest(run: Runner, c: TwinCluster): Promise<ClusterStatus> {
  const s = c.layout
  const st = readStatus(s)
  const repo = c.spec.backups?.pgbackrest?.repos?.[0]
  const leader = leaderOf(await members(s))
  const at = s.instances.find((i) => i.name === leader?.name)
  if (!repo || leader?.role !== 'leader' || !at) return st
  if (!st.stanzaCreated) {
    // the archiver's async process may hold the archive lock a moment (ERROR [050]): PGO requeues
    const r = await requeued(() => backrest(run, s, at, ['stanza-create'], 300_000))
    if (r.code !== 0) throw new Error(`PGO's stanza-create in ${s.site} failed: ${r.stderr.trim() || r.stdout.trim()}`)
    st.stanzaCreated = true
    writeStatus(s, st)
  }
  if (!st.replicaCreateBackupComplete) {
    const r = await backrest(run, s, at, ['backup', `--repo=${repo.name.replace(/^repo/, '')}`])
    if (r.code !== 0)
      throw new Error(`PGO's replica-create backup in ${s.site} failed: ${r.stderr.trim() || r.stdout.trim()}`)
    st.replicaCreateBackupComplete = true
    writeStatus(s, st)
  }
  return st
}

/**
 * A reconcile that fails is requeued with a growing delay (controller-runtime's rate limiter);
 * here up to 5 more tries, 1 s to 16 s apart, before the twin gives up and says why.
 */
async function requeued<T extends { code: number }>(attempt: () => Promise<T>): Promise<T> {
  let r = await attempt()
  for (let k = 0; r.code !== 0 && k < 5; k++) {
    await new Promise((done) => setTimeout(done, 1000 * 2 ** k))
    r = await attempt()
  }
  return r
}

/** PGO's manual backup job: pgBackRest backup in the primary's pod, to the repo and with the options spec.backups.pgbackrest.manual names. */
export async function manualBackup(run: Runner, c: TwinCluster, repoName: string, options: string[]) {
  const s = c.layout
  const leader = leaderOf(await members(s))
  const at = s.instances.find((i) => i.name === leader?.name && leader.role === 'leader')
  if (!at) return { code: 1, stdout: '', stderr: `${s.site} has no writable leader` }
  return backrest(run, s, at, ['backup', `--repo=${repoName.replace(/^repo/, '')}`, ...options])
}

/** PGO: `spec.standby.enabled: false` -> Patroni's dynamic configuration loses standby_cluster; the standby leader promotes. */
export async function promoteCluster(run: Runner, c: TwinCluster, timeoutMs = 90_000): Promise<void> {
  const s = c.layout
  const leader = leaderOf(await members(s))
  const at = s.instances.find((i) => i.name === leader?.name) ?? s.instances[0]!
  await patchConfig(patroniApi(s, at), { standby_cluster: null })
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (leaderOf(await members(s))?.role === 'leader') break
    await new Promise((r) => setTimeout(r, 500))
  }
  if (leaderOf(await members(s))?.role !== 'leader')
    throw new Error(`the ${s.site} cluster did not promote in ${timeoutMs / 1000} s`)
  c.spec = { ...c.spec, standby: { ...c.spec.standby, enabled: false } }
  // Patroni names the leader before PostgreSQL leaves recovery: PGO's exec would fail and its next reconcile retry
  const promoted = leaderOf(await members(s))?.name
  const now = s.instances.find((i) => i.name === promoted)!
  while (Date.now() < until) {
    const r = await psql(run, now, 'postgres', 'SELECT pg_is_in_recovery();\n', ['-At'])
    if (r.stdout.trim() === 'f') break
    await new Promise((r) => setTimeout(r, 200))
  }
  await reconcileUsers(run, c)
  await reconcileBackrest(run, c)
}
