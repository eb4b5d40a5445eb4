/**
 * The inventory contract: what a deployed stack is made of, in the terms the runbooks act on.
 * The Pulumi program exports it as the `inventory` stack output; the local site writes the
 * same shape into its state directory. `parseInventory` validates it and reports every problem.
 */
import { InputError, inputError, type Problem } from './errors.ts'
import { SITE_NAMES, type SiteName } from './policy.ts'

export type Provider = 'local' | 'aws' | 'gcp' | 'kubernetes'

export interface PgNode {
  /** stable node name (cluster_name / application_name) */
  name: string
  site: SiteName
  /** the role the node was provisioned for; live role comes from probes */
  role: 'primary' | 'standby'
  host: string
  port: number
  database: string
  user: string
  /** local only: data directory */
  dataDir?: string
  /** cloud: the kube context and namespace of the node's PGO cluster */
  kubeContext?: string
  namespace?: string
  /** TLS as libpq's sslmode (a PGO cluster: require or verify-full; unset: none, the local site's loopback) */
  sslmode?: 'disable' | 'require' | 'verify-full'
  /** the CA file verify-full checks the server's certificate against (PGO's cluster CA, pgo-root-cacert) */
  sslRootCert?: string
}

/** How the runbooks reach a node over libpq (its password from the environment's password file, TLS as the node says). */
export const nodeConn = (n: PgNode) => ({
  host: n.host,
  port: n.port,
  database: n.database,
  user: n.user,
  ...(n.sslmode ? { sslmode: n.sslmode } : {}),
  ...(n.sslRootCert ? { sslRootCert: n.sslRootCert } : {}),
})

/** The traffic endpoint, as the user the nodes name (it leads to one of them). */
export const endpointConn = (inv: Inventory) => {
  const n = inv.nodes.find((x) => x.role === 'primary') ?? inv.nodes[0]
  return {
    ...(n ? nodeConn(n) : {}),
    host: inv.endpoint.host,
    port: inv.endpoint.port,
    database: inv.endpoint.database,
  }
}

export interface Repo {
  index: number
  type: 'posix' | 's3' | 'gcs'
  /** posix path or bucket path prefix */
  path: string
  bucket?: string
  endpoint?: string
  region?: string
  encrypted: boolean
  /** where the cipher pass lives: a file path (local) or a secret manager reference; never the pass */
  cipherPassRef?: string
  site: SiteName
}

export interface Bucket {
  name: string
  provider: Provider
  region: string
  purpose: 'backup' | 'offsite' | 'exports'
  versioning: boolean
  objectLockDays: number
}

export interface Key {
  id: string
  provider: Provider
  purpose: string
  rotationDays: number
}

export interface TrafficEndpoint {
  kind: 'pgbouncer' | 'route53' | 'clouddns'
  host: string
  port: number
  database: string
  /** route53 / clouddns */
  zoneId?: string
  recordName?: string
  /** pgbouncer: admin console user */
  adminUser?: string
  /** cloud: the distributed observer a --watch asks before promoting (the PrimaryUp alarm) */
  observer?: { alarmName: string; region: string }
}

export interface SiteInventory {
  name: SiteName
  provider: Provider
  region: string
  nodes: string[]
}

export interface Inventory {
  stack: string
  provider: Provider
  sites: SiteInventory[]
  nodes: PgNode[]
  pgbackrest: { stanza: string; configPath?: string; repos: Repo[] }
  buckets: Bucket[]
  keys: Key[]
  endpoint: TrafficEndpoint
  healthChecks: { site: SiteName; url: string }[]
}

type Raw = Record<string, unknown>
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

type Bad = (key: string, value: unknown, message: string, fix: string) => void

export function parseInventory(raw: unknown, source: string): Inventory {
  const problems: Problem[] = []
  const bad: Bad = (key, value, message, fix) => problems.push({ key, value, message, fix })
  if (!isObj(raw))
    throw new InputError(`invalid inventory in ${source}`, [
      {
        key: 'inventory',
        value: raw,
        message: 'is not an object',
        fix: 'pass the `inventory` stack output (pulumi stack output inventory --json)',
      },
    ])
  const inv = raw as unknown as Inventory
  if (typeof inv.stack !== 'string' || !inv.stack) bad('inventory.stack', inv.stack, 'missing', 'set the stack name')
  if (!['local', 'aws', 'gcp', 'kubernetes'].includes(inv.provider))
    bad('inventory.provider', inv.provider, 'must be local, aws, gcp or kubernetes', 'set provider')
  checkNodes(inv, bad)
  checkPgbackrest(inv, bad)
  checkEndpoint(inv, bad)
  checkStrict(raw, bad)
  for (const k of ['sites', 'buckets', 'keys', 'healthChecks'] as const)
    if (!Array.isArray(inv[k])) bad(`inventory.${k}`, inv[k], 'must be a list', 'export it (an empty list is fine)')
  if (problems.length) throw new InputError(`invalid inventory in ${source}`, problems)
  return inv
}

function checkNodes(inv: Inventory, bad: Bad): void {
  const nodes = Array.isArray(inv.nodes) ? inv.nodes : []
  if (!Array.isArray(inv.nodes) || nodes.length === 0)
    bad('inventory.nodes', inv.nodes, 'must list at least one PostgreSQL node', 'export the nodes')
  nodes.forEach((n, i) => {
    const k = `inventory.nodes[${i}]`
    if (!isObj(n)) return bad(k, n, 'is not an object', 'fix the node entry')
    if (typeof n.name !== 'string' || !n.name) bad(`${k}.name`, n.name, 'missing', 'name the node')
    if (!SITE_NAMES.includes(n.site))
      bad(`${k}.site`, n.site, `must be one of ${SITE_NAMES.join(', ')}`, 'set the site')
    if (n.role !== 'primary' && n.role !== 'standby')
      bad(`${k}.role`, n.role, 'must be primary or standby', 'set the role')
    if (typeof n.host !== 'string' || !n.host) bad(`${k}.host`, n.host, 'missing', 'set the host')
    if (!Number.isInteger(n.port) || n.port < 1 || n.port > 65535)
      bad(`${k}.port`, n.port, 'must be a port 1..65535', 'set the port')
  })
  // a DR-only stack (dr) has no primary of its own; no stack may have two
  if (nodes.filter((n) => isObj(n) && n.role === 'primary').length > 1)
    bad(
      'inventory.nodes',
      nodes.map((n) => n?.name),
      'has more than one node provisioned as primary',
      'fix the roles',
    )
}

function checkPgbackrest(inv: Inventory, bad: Bad): void {
  const br = inv.pgbackrest
  if (!isObj(br) || typeof br.stanza !== 'string' || !Array.isArray(br.repos) || br.repos.length === 0)
    return bad(
      'inventory.pgbackrest',
      br,
      'needs a stanza and at least one repo',
      'export pgbackrest.stanza and pgbackrest.repos',
    )
  br.repos.forEach((r, i) => {
    if (!isObj(r)) return // named by the strict check
    if (!Number.isInteger(r.index) || r.index < 1 || r.index > 256)
      bad(`inventory.pgbackrest.repos[${i}].index`, r.index, 'must be 1..256', 'number the repos')
    if (!['posix', 's3', 'gcs'].includes(r.type))
      bad(`inventory.pgbackrest.repos[${i}].type`, r.type, 'must be posix, s3 or gcs', 'set the type')
  })
}

function checkEndpoint(inv: Inventory, bad: Bad): void {
  const ep = inv.endpoint
  if (!isObj(ep) || !['pgbouncer', 'route53', 'clouddns'].includes(ep.kind as string))
    bad(
      'inventory.endpoint.kind',
      isObj(ep) ? ep.kind : ep,
      'must be pgbouncer, route53 or clouddns',
      'export the traffic endpoint',
    )
  else if (ep.kind !== 'pgbouncer' && (!ep.zoneId || !ep.recordName))
    bad('inventory.endpoint', ep, 'a DNS endpoint needs zoneId and recordName', 'export them from the DNS component')
}

// ------------------------------------------------------------------ strict shape

/** The fields each object of the contract may carry: anything else is a mistake (or an injection), named. */
const FIELDS = {
  inventory: ['stack', 'provider', 'sites', 'nodes', 'pgbackrest', 'buckets', 'keys', 'endpoint', 'healthChecks'],
  node: [
    'name',
    'site',
    'role',
    'host',
    'port',
    'database',
    'user',
    'dataDir',
    'kubeContext',
    'namespace',
    'sslmode',
    'sslRootCert',
  ],
  pgbackrest: ['stanza', 'configPath', 'repos'],
  repo: ['index', 'type', 'path', 'bucket', 'endpoint', 'region', 'encrypted', 'cipherPassRef', 'site'],
  site: ['name', 'provider', 'region', 'nodes'],
  bucket: ['name', 'provider', 'region', 'purpose', 'versioning', 'objectLockDays'],
  key: ['id', 'provider', 'purpose', 'rotationDays'],
  endpoint: ['kind', 'host', 'port', 'database', 'zoneId', 'recordName', 'adminUser', 'observer'],
  observer: ['alarmName', 'region'],
  healthCheck: ['site', 'url'],
} as const

/** What a value that reaches a command line, a path or a connection may look like. */
const SHAPES = {
  name: [/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, _ . - (up to 63), e.g. pg-primary'],
  stanza: [/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ - (up to 64), e.g. db'],
  host: [/^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/, 'a host name or an IP address, e.g. db.example.internal'],
  identifier: [/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/, 'a PostgreSQL name, e.g. labdojo'],
  path: [/^\/(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9_.@+=,/-]*$/, 'an absolute path without .. segments'],
  region: [/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'a region, e.g. us-east-1'],
  bucket: [/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'a bucket name, e.g. labdojo-backups'],
  namespace: [/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace, e.g. labdojo'],
  kubeContext: [/^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,252}$/, 'a kubeconfig context name'],
  sslmode: [
    /^(disable|require|verify-full)$/,
    'disable, require or verify-full (a PGO cluster takes password logins over TLS only)',
  ],
} as const

type Check = {
  fields: (k: string, o: unknown, allowed: readonly string[]) => void
  shape: (k: string, v: unknown, s: keyof typeof SHAPES, optional?: boolean) => void
}

const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

function strictChecks(bad: Bad): Check {
  return {
    fields: (k, o, allowed) => {
      if (!isObj(o)) return
      for (const f of Object.keys(o))
        if (!allowed.includes(f))
          bad(
            `${k}.${f}`,
            o[f],
            'is not a field of the inventory contract',
            `remove it (fields here: ${allowed.join(', ')})`,
          )
    },
    shape: (k, v, s, optional = true) => {
      if (v === undefined && optional) return
      const [re, what] = SHAPES[s]
      if (typeof v !== 'string' || !re.test(v)) bad(k, v, `must be ${what}`, `fix ${k}`)
    },
  }
}

function checkStrict(raw: Raw, bad: Bad): void {
  const c = strictChecks(bad)
  c.fields('inventory', raw, FIELDS.inventory)
  c.shape('inventory.stack', raw.stack, 'name', false)
  checkStrictNodes(raw, c)
  checkStrictRepos(raw, c, bad)
  listOf(raw.sites).forEach((s, i) => {
    c.fields(`inventory.sites[${i}]`, s, FIELDS.site)
    if (isObj(s)) listOf(s.nodes).forEach((n, j) => c.shape(`inventory.sites[${i}].nodes[${j}]`, n, 'name', false))
  })
  listOf(raw.buckets).forEach((b, i) => c.fields(`inventory.buckets[${i}]`, b, FIELDS.bucket))
  listOf(raw.keys).forEach((b, i) => c.fields(`inventory.keys[${i}]`, b, FIELDS.key))
  listOf(raw.healthChecks).forEach((h, i) => c.fields(`inventory.healthChecks[${i}]`, h, FIELDS.healthCheck))
  const ep = raw.endpoint
  c.fields('inventory.endpoint', ep, FIELDS.endpoint)
  if (isObj(ep)) {
    c.shape('inventory.endpoint.host', ep.host, 'host')
    c.shape('inventory.endpoint.database', ep.database, 'identifier')
    c.fields('inventory.endpoint.observer', ep.observer, FIELDS.observer)
  }
}

function checkStrictNodes(raw: Raw, c: Check): void {
  listOf(raw.nodes).forEach((n, i) => {
    const k = `inventory.nodes[${i}]`
    c.fields(k, n, FIELDS.node)
    if (!isObj(n)) return
    c.shape(`${k}.name`, n.name, 'name')
    c.shape(`${k}.host`, n.host, 'host')
    c.shape(`${k}.database`, n.database, 'identifier', false)
    c.shape(`${k}.user`, n.user, 'identifier', false)
    c.shape(`${k}.dataDir`, n.dataDir, 'path')
    c.shape(`${k}.kubeContext`, n.kubeContext, 'kubeContext')
    c.shape(`${k}.namespace`, n.namespace, 'namespace')
    c.shape(`${k}.sslmode`, n.sslmode, 'sslmode')
    c.shape(`${k}.sslRootCert`, n.sslRootCert, 'path')
  })
}

function checkStrictRepos(raw: Raw, c: Check, bad: Bad): void {
  const br = raw.pgbackrest
  c.fields('inventory.pgbackrest', br, FIELDS.pgbackrest)
  if (!isObj(br)) return
  c.shape('inventory.pgbackrest.stanza', br.stanza, 'stanza')
  c.shape('inventory.pgbackrest.configPath', br.configPath, 'path')
  listOf(br.repos).forEach((r, i) => {
    const k = `inventory.pgbackrest.repos[${i}]`
    c.fields(k, r, FIELDS.repo)
    if (!isObj(r)) return bad(k, r, 'is not an object', 'fix the repo entry')
    c.shape(`${k}.path`, r.path, 'path', false)
    c.shape(`${k}.bucket`, r.bucket, 'bucket')
    c.shape(`${k}.region`, r.region, 'region')
  })
}

/**
 * A stack whose inventory names no primary (dr), with the primary of the stack that has one
 * (prod's) added: what a failover to the warm site probes and fences before it promotes.
 */
export function withPrimaryOf(inv: Inventory, other: Inventory): Inventory {
  if (inv.nodes.some((n) => n.role === 'primary')) return inv
  const primary = other.nodes.find((n) => n.role === 'primary')
  if (!primary)
    throw inputError(
      '--fence-inventory',
      other.stack,
      'names no primary either',
      "pass the inventory of the stack that holds the primary (prod's)",
    )
  return { ...inv, nodes: [primary, ...inv.nodes] }
}
