/**
 * What Crunchy PGO 5.7 makes of a PostgresCluster spec, as pure functions: the pg_hba rules, the
 * PostgreSQL parameters, Patroni's dynamic configuration, the users and their Secrets. The twin
 * (runbooks/lib/sites/twin) hands these to real Patroni, PostgreSQL and pgBackRest; each rule
 * names the PGO source file it mirrors (github.com/CrunchyData/postgres-operator, v5.7).
 */

/** The part of a PostgresCluster spec PGO's rules read (the vendored CRD has the whole schema). */
export interface PgoSpec {
  postgresVersion: number
  port?: number
  instances: { name: string; replicas?: number }[]
  users?: PgoUser[]
  patroni?: {
    port?: number
    leaderLeaseDurationSeconds?: number
    syncPeriodSeconds?: number
    dynamicConfiguration?: {
      synchronous_mode?: boolean
      synchronous_mode_strict?: boolean
      postgresql?: { parameters?: Record<string, string | number | boolean>; pg_hba?: string[] }
      [k: string]: unknown
    }
  }
  standby?: { enabled?: boolean; host?: string; port?: number; repoName?: string }
  shutdown?: boolean
  backups?: { pgbackrest?: PgoBackrestSpec }
  databaseInitSQL?: { name: string; key: string }
  /** labels and annotations PGO puts on every object it creates, its service accounts among them */
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }
}

/** spec.backups.pgbackrest, as far as the instance's pgBackRest configuration reads it. */
export interface PgoBackrestSpec {
  global?: Record<string, string>
  repos?: PgoRepo[]
  configuration?: { secret?: { name: string } }[]
  manual?: { repoName: string; options?: string[] }
  restore?: { enabled?: boolean; repoName?: string; options?: string[] }
}

export interface PgoRepo {
  name: string
  s3?: { bucket: string; endpoint: string; region: string }
  gcs?: { bucket: string }
  azure?: { container: string }
  volume?: unknown
  schedules?: Record<string, string>
}

export interface PgoUser {
  name: string
  databases?: string[]
  options?: string
  password?: { type?: 'ASCII' | 'AlphaNumeric' }
}

/** The CRD's defaults (postgres-operator.crunchydata.com_postgresclusters.yaml). */
export const PGO_DEFAULTS = { port: 5432, patroniPort: 8008, leaderLeaseDurationSeconds: 30, syncPeriodSeconds: 10 }

/** internal/postgres/users.go, naming/names.go: PGO's replication user (certificate only). */
export const REPLICATION_USER = '_crunchyrepl'

/** The rules PGO writes into pg_hba.conf, in order (internal/postgres/hba.go; controller/postgrescluster/postgres.go). */
export function pgoHba(spec: PgoSpec): string[] {
  const mandatory = [
    // hba.go: the postgres superuser connects locally only, by peer
    'local all "postgres" peer',
    // hba.go: replication (and pg_rewind's connection to the postgres database) by certificate over TLS only
    `hostssl replication "${REPLICATION_USER}" all cert`,
    `hostssl "postgres" "${REPLICATION_USER}" all cert`,
    `host all "${REPLICATION_USER}" all reject`,
  ]
  const spec_ = spec.patroni?.dynamicConfiguration?.postgresql?.pg_hba ?? []
  // hba.go Default, only when the spec gives no rule of its own: passwords over TLS, from anywhere
  return [...mandatory, ...(spec_.length ? spec_ : ['hostssl all all all md5'])]
}

/** PostgreSQL parameters: defaults, then the spec's, then PGO's mandatory ones (internal/postgres/parameters.go). */
export function pgoParameters(
  spec: PgoSpec,
  paths: { socketDir: string; tls: { cert: string; key: string; ca: string } },
): Record<string, string> {
  const backrest = spec.backups?.pgbackrest ? pgoBackrestParameters(spec) : { mandatory: {}, defaults: {} }
  const out: Record<string, string> = { jit: 'off', password_encryption: 'scram-sha-256', ...backrest.defaults }
  for (const [k, v] of Object.entries(spec.patroni?.dynamicConfiguration?.postgresql?.parameters ?? {}))
    out[k.toLowerCase()] = String(v)
  Object.assign(out, {
    unix_socket_directories: paths.socketDir,
    // parameters.go: logical, mandatory (a spec's wal_level is overridden)
    wal_level: 'logical',
    // parameters.go: TLS always on, with the cluster's certificate
    ssl: 'on',
    ssl_cert_file: paths.tls.cert,
    ssl_key_file: paths.tls.key,
    ssl_ca_file: paths.tls.ca,
  })
  // internal/pgbackrest/postgres.go: archiving through pgBackRest, restore_command from the repos (mandatory)
  Object.assign(out, backrest.mandatory)
  return out
}

/** Patroni's dynamic configuration (internal/patroni/config.go, DynamicConfiguration). */
export function patroniDynamic(
  spec: PgoSpec,
  parameters: Record<string, string>,
  hba: string[],
): Record<string, unknown> {
  const dyn = spec.patroni?.dynamicConfiguration ?? {}
  const root: Record<string, unknown> = { ...dyn }
  root.ttl = spec.patroni?.leaderLeaseDurationSeconds ?? PGO_DEFAULTS.leaderLeaseDurationSeconds
  root.loop_wait = spec.patroni?.syncPeriodSeconds ?? PGO_DEFAULTS.syncPeriodSeconds
  // config.go: no replication slots (use_slots: false); pg_rewind on for PostgreSQL > 10
  root.postgresql = { ...(dyn.postgresql ?? {}), use_slots: false, parameters, pg_hba: hba, use_pg_rewind: true }
  if (spec.standby?.enabled) root.standby_cluster = standbyCluster(spec, parameters.restore_command)
  return root
}

/** config.go: a standby cluster streams from host/port (basebackup) and replays from the repo when repoName is set. */
export function standbyCluster(spec: PgoSpec, restoreCommand?: string): Record<string, unknown> {
  const s = spec.standby ?? {}
  const methods: string[] = []
  const out: Record<string, unknown> = {}
  if (s.host) {
    out.host = s.host
    if (s.port) out.port = s.port
    methods.push('basebackup')
  }
  if (s.repoName) {
    methods.unshift('pgbackrest')
    if (restoreCommand) out.restore_command = restoreCommand
  }
  out.create_replica_methods = methods
  return out
}

/** controller/postgrescluster/postgres.go: no spec.users means one user and database named after the cluster. */
export function pgoUsers(spec: PgoSpec, clusterName: string): PgoUser[] {
  return spec.users ?? [{ name: clusterName, databases: [clusterName] }]
}

/** The Secret PGO keeps for a user: `<cluster>-pguser-<user>` (internal/naming/names.go). */
export const userSecretName = (cluster: string, user: string) => `${cluster}-pguser-${user}`

/** The labels PGO finds a user's Secret by (naming/labels.go); a Secret without them is not adopted. */
export const userSecretLabels = (cluster: string, user: string) => ({
  'postgres-operator.crunchydata.com/cluster': cluster,
  'postgres-operator.crunchydata.com/role': 'pguser',
  'postgres-operator.crunchydata.com/pguser': user,
})

export interface UserSecretData {
  user: string
  password: string
  verifier: string
  dbname?: string
  host: string
  port: string
}

/**
 * postgres.go generatePostgresUserSecret: an existing Secret's password and verifier are kept; a
 * missing password is generated (and its verifier); a missing verifier is built from the password.
 */
export function userSecret(
  existing: { password?: string; verifier?: string } | undefined,
  user: PgoUser,
  where: { host: string; port: number },
  make: { password: () => string; verifier: (password: string) => string },
): UserSecretData {
  let password = existing?.password ?? ''
  let verifier = existing?.verifier ?? ''
  if (!password) {
    password = make.password()
    verifier = ''
  }
  if (!verifier) verifier = make.verifier(password)
  return {
    user: user.name,
    password,
    verifier,
    host: where.host,
    port: String(where.port),
    ...(user.databases?.length ? { dbname: user.databases[0] } : {}),
  }
}

/** users.go sanitizeAlterRoleOptions: options that assign a password are dropped. */
const safeOptions = (o?: string) => (o && !/password/i.test(o) && !/--|\/\*|\*\//.test(o) ? o : '')

/**
 * internal/postgres/users.go WriteUsersInPostgreSQL, as statements: create missing users, set
 * options and the Secret's verifier, grant their databases; `postgres` is always LOGIN SUPERUSER.
 * Run only where the cluster is writable (a standby cluster gets its users once promoted).
 */
export function writeUsersStatements(
  users: PgoUser[],
  verifiers: Record<string, string>,
  quote: { ident: (s: string) => string; literal: (s: string) => string },
): string[] {
  const out: string[] = ['SET synchronous_commit = LOCAL', "SET search_path TO ''"]
  for (const u of users) {
    const isPostgres = u.name === 'postgres'
    const options = isPostgres ? 'LOGIN SUPERUSER' : safeOptions(u.options)
    const role = quote.ident(u.name)
    out.push(
      `DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${quote.literal(u.name)}) THEN CREATE USER ${role}; END IF; END$$`,
      `ALTER ROLE ${role} WITH ${options} PASSWORD ${quote.literal(verifiers[u.name] ?? '')}`,
    )
    for (const db of isPostgres ? ['postgres'] : (u.databases ?? []))
      out.push(`GRANT ALL PRIVILEGES ON DATABASE ${quote.ident(db)} TO ${role}`)
  }
  return out
}

/** postgres.go reconcilePostgresDatabases: the databases the users name (or the cluster's own). */
export function pgoDatabases(spec: PgoSpec, clusterName: string): string[] {
  if (!spec.users) return [clusterName]
  return [...new Set(spec.users.flatMap((u) => u.databases ?? []))].sort()
}

/** internal/pgbackrest/config.go: pgBackRest's stanza name. */
export const PGO_STANZA = 'db'

/**
 * internal/pgbackrest/postgres.go: WAL to every repo when not in recovery; from any repo during
 * recovery, or from the one named by standby.repoName in a standby cluster.
 */
export function pgoBackrestParameters(spec: PgoSpec): {
  mandatory: Record<string, string>
  defaults: Record<string, string>
} {
  let restore = `pgbackrest --stanza=${PGO_STANZA} archive-get %f "%p"`
  if (spec.standby?.enabled && spec.standby.repoName) restore += ` --repo=${spec.standby.repoName.replace(/^repo/, '')}`
  return {
    mandatory: {
      archive_mode: 'on',
      archive_command: `pgbackrest --stanza=${PGO_STANZA} archive-push "%p"`,
      restore_command: restore,
    },
    defaults: { archive_timeout: '60s' },
  }
}

/** An ini file's sections, each option once, in order. */
export type Ini = Record<string, Record<string, string>>

export const iniText = (ini: Ini) =>
  Object.entries(ini)
    .map(
      ([section, options]) =>
        `[${section}]\n${Object.entries(options)
          .map(([k, v]) => `${k}=${v}\n`)
          .join('')}`,
    )
    .join('\n')

/**
 * internal/pgbackrest/config.go populatePGInstanceConfigurationMap: an instance's
 * pgbackrest_instance.conf. archive-async on, the spool beside the WAL, each repo's default path
 * (/pgbackrest/<repo>) and its storage (getExternalRepoConfigs), then spec.global over all of
 * these; the stanza names the local PostgreSQL as pg1.
 */
export function pgoBackrestInstanceConf(
  spec: PgoSpec,
  paths: { pgData: string; socketDir: string; spool: string; log: string },
): Ini {
  const global: Record<string, string> = { 'archive-async': 'y', 'spool-path': paths.spool, 'log-path': paths.log }
  for (const r of spec.backups?.pgbackrest?.repos ?? []) {
    global[`${r.name}-path`] = `/pgbackrest/${r.name}`
    if (r.volume) continue
    if (r.azure)
      Object.assign(global, { [`${r.name}-type`]: 'azure', [`${r.name}-azure-container`]: r.azure.container })
    else if (r.gcs) Object.assign(global, { [`${r.name}-type`]: 'gcs', [`${r.name}-gcs-bucket`]: r.gcs.bucket })
    else if (r.s3)
      Object.assign(global, {
        [`${r.name}-type`]: 's3',
        [`${r.name}-s3-bucket`]: r.s3.bucket,
        [`${r.name}-s3-endpoint`]: r.s3.endpoint,
        [`${r.name}-s3-region`]: r.s3.region,
      })
  }
  Object.assign(global, spec.backups?.pgbackrest?.global ?? {})
  return {
    global,
    [PGO_STANZA]: {
      'pg1-path': paths.pgData,
      'pg1-port': String(spec.port ?? PGO_DEFAULTS.port),
      'pg1-socket-path': paths.socketDir,
    },
  }
}

/**
 * The annotation (ours, on the PostgresCluster) naming the repos a standby cluster only replays
 * from: a copy of its primary's archive it must not write a timeline of its own into.
 */
export const REPLAY_ONLY_ANNOTATION = 'labdojo.com/replay-only-repos'

/**
 * The merge patch that promotes a standby cluster (PGO: standby.enabled false) and, in the same
 * reconcile, takes its replay-only repos out of its pgBackRest configuration (the repo and every
 * repoN- option of spec.global), so its archive_command writes only to repos of its own. A merge
 * patch replaces the repos list whole; null removes a global option.
 */
export function promotionPatch(o: {
  metadata?: { annotations?: Record<string, string> }
  spec?: { backups?: { pgbackrest?: { repos?: PgoRepo[]; global?: Record<string, string> } } }
}): { spec: Record<string, unknown> } {
  const drop = (o.metadata?.annotations?.[REPLAY_ONLY_ANNOTATION] ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
  const b = o.spec?.backups?.pgbackrest
  if (!drop.length || !b) return { spec: { standby: { enabled: false } } }
  const repos = (b.repos ?? []).filter((r) => !drop.includes(r.name))
  const global = Object.fromEntries(
    Object.keys(b.global ?? {})
      .filter((k) => drop.some((d) => k.startsWith(`${d}-`)))
      .map((k) => [k, null]),
  )
  return { spec: { standby: { enabled: false }, backups: { pgbackrest: { repos, global } } } }
}

/** naming/annotations.go: a cluster's users get a schema of their own (with PGO's AutoCreateUserSchema gate on). */
export const AUTO_CREATE_USER_SCHEMA_ANNOTATION = 'postgres-operator.crunchydata.com/autoCreateUserSchema'

/** users.go RESERVED_SCHEMA_NAMES: no schema is created for these users. */
const RESERVED_SCHEMA_NAMES = new Set(['public', 'pgbouncer', 'monitor'])

/**
 * users.go WriteUsersSchemasInPostgreSQL: in each database of each user (reserved names and users
 * without databases skipped), a schema named after the user and owned by it. PostgreSQL 15's
 * public schema takes no CREATE from them; the default search_path ("$user", public) finds this one.
 */
export function userSchemaStatements(
  users: PgoUser[],
  ident: (s: string) => string,
): { database: string; sql: string }[] {
  return users
    .filter((u) => !RESERVED_SCHEMA_NAMES.has(u.name) && u.databases?.length)
    .flatMap((u) =>
      u.databases!.map((database) => ({
        database,
        sql: `SET search_path TO ''; CREATE SCHEMA IF NOT EXISTS ${ident(u.name)} AUTHORIZATION ${ident(u.name)};`,
      })),
    )
}
