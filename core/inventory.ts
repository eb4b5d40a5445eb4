/**
 * The inventory contract: what a deployed stack is made of, in the terms the runbooks act on.
 * The Pulumi program exports it as the `inventory` stack output; the local site writes the
 * same shape into its state directory. `parseInventory` validates it and reports every problem.
 */
import { InputError, type Problem } from './errors.ts'
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
}

/** How the runbooks reach a node over libpq (its password from the environment's password file). */
export const nodeConn = (n: PgNode) => ({ host: n.host, port: n.port, database: n.database, user: n.user })

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
