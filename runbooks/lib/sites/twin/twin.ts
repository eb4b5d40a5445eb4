/**
 * The cloud twin: a stack's PostgresClusters, rendered by the real program under Pulumi's mock
 * runtime, run here as PGO would run them (pgo.ts), each site in its own network namespace
 * (network.ts). `up` renders, builds the network and certificates, starts the primary cluster
 * first and its standby clusters after, writes the users as PGO does, and writes the inventory
 * the runbooks read (the program's own, its addresses bound to the twin's), with a password
 * file for the runbooks' user. Re-running `up` starts only what is missing.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Runner } from '../../adapters/exec.ts'
import { inputError } from '../../../../core/errors.ts'
import type { Inventory } from '../../../../core/inventory.ts'
import type { PgoSpec } from '../../../../core/pgo.ts'
import { twinLayout, PG_PORT, type TwinLayout, type TwinSiteLayout } from './layout.ts'
import { networkDown, networkUp } from './network.ts'
import { ensureCa, issue, replicationClient } from './pki.ts'
import { members, readStatus, reconcileUsers, startCluster, stopCluster, waitReady, type TwinCluster } from './pgo.ts'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

/** The fields of a rendered Kubernetes object the twin reads. */
interface K8sObject {
  metadata: { name: string; labels?: Record<string, string> }
  spec?: unknown
  stringData?: Record<string, string>
  data?: Record<string, string>
}

interface Rendered {
  stack: string
  inventory: Inventory
  objects: { type: string; name: string; object: K8sObject }[]
}

export interface Twin {
  layout: TwinLayout
  rendered: Rendered
  clusters: TwinCluster[]
}

/** Run the program under the mock runtime in its own process (one stack per process). */
async function render(run: Runner, stack: string): Promise<Rendered> {
  const r = await run(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'infra/render-k8s.ts'), '--stack', stack], {
    cwd: ROOT,
    timeoutMs: 120_000,
  })
  return JSON.parse(r.stdout) as Rendered
}

const PGO_KIND = 'kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster'

/** The program's PostgresClusters in start order (primary clusters before their standbys), with their sites and regions. */
function clusterSpecs(r: Rendered) {
  const regionOf = (site: string) => r.inventory.sites.find((s) => s.name === site)?.region ?? site
  return r.objects
    .filter((o) => o.type === PGO_KIND)
    .map((o) => {
      const site = o.object.metadata.labels?.['labdojo.com/site'] ?? o.name
      return { site, region: regionOf(site), spec: o.object.spec as PgoSpec }
    })
    .sort((a, b) => Number(Boolean(a.spec.standby?.enabled)) - Number(Boolean(b.spec.standby?.enabled)))
}

export function twinOf(stateDir: string, basePort: number, rendered: Rendered): Twin {
  const specs = clusterSpecs(rendered)
  const layout = twinLayout(
    stateDir,
    basePort,
    specs.map((s) => ({ site: s.site, region: s.region, replicas: s.spec.instances[0]?.replicas ?? 1 })),
  )
  const clusters = specs.map((s, k): TwinCluster => {
    const site = layout.sites[k]!
    const secrets = rendered.objects.filter((o) => o.name.startsWith(`${s.site}-pguser-`))
    const init = rendered.objects.find((o) => o.name === `${s.site}-init-sql`)
    const key = s.spec.databaseInitSQL?.key
    return {
      layout: site,
      spec: s.spec,
      givenSecrets: Object.fromEntries(
        secrets.map((o) => [o.object.stringData?.user, { password: o.object.stringData?.password }]),
      ),
      initSql: key ? init?.object.data?.[key] : undefined,
      tls: {
        ca: join(site.dir, 'tls', 'ca.crt'),
        cert: join(site.dir, 'tls', 'tls.crt'),
        key: join(site.dir, 'tls', 'tls.key'),
      },
      replication: {
        ca: join(site.dir, 'replication', 'ca.crt'),
        cert: join(site.dir, 'replication', 'tls.crt'),
        key: join(site.dir, 'replication', 'tls.key'),
      },
    }
  })
  return { layout, rendered, clusters }
}

/** The names the program gives each site's endpoint, bound to the site's Service (the private DNS stand-in). */
function endpointNames(t: Twin): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of t.rendered.inventory.nodes) {
    const s = t.layout.sites.find((x) => x.site === n.site)
    if (s) out[n.host] = s.serviceIp
  }
  return out
}

const stateFile = (stateDir: string) => join(stateDir, 'twin.json')

export function loadTwin(stateDir: string): Twin | null {
  if (!existsSync(stateFile(stateDir))) return null
  const { basePort } = JSON.parse(readFileSync(stateFile(stateDir), 'utf8')) as { basePort: number }
  const rendered = JSON.parse(readFileSync(join(stateDir, 'rendered.json'), 'utf8')) as Rendered
  return twinOf(stateDir, basePort, rendered)
}

export async function twinUp(
  run: Runner,
  o: { stack: string; stateDir: string; basePort: number; out: string },
): Promise<Twin> {
  mkdirSync(o.stateDir, { recursive: true, mode: 0o755 })
  await reachableBySiteUser(run, o.stateDir)
  let t = loadTwin(o.stateDir)
  if (!t) {
    const rendered = await render(run, o.stack)
    writeFileSync(join(o.stateDir, 'rendered.json'), JSON.stringify(rendered), { mode: 0o600 })
    writeFileSync(stateFile(o.stateDir), JSON.stringify({ stack: o.stack, basePort: o.basePort }) + '\n')
    t = twinOf(o.stateDir, o.basePort, rendered)
  }
  await networkUp(run, t.layout, endpointNames(t))
  await certificates(run, t)
  for (const c of t.clusters) {
    await startCluster(c)
    // a standby cluster's replicas follow its leader; the next cluster needs only a leader to stream from
    await waitReady(c.layout, { all: true, timeoutMs: 180_000 })
    await reconcileUsers(run, c)
  }
  writeInventory(t, o.out)
  return t
}

/** Patroni and PostgreSQL run as postgres: every parent of the state directory must let it through. */
async function reachableBySiteUser(run: Runner, dir: string): Promise<void> {
  const r = await run('test', ['-x', dir], { asSiteUser: true, nothrow: true })
  if (r.code !== 0)
    throw inputError(
      'LABDOJO_TWIN_DIR',
      dir,
      'the postgres OS user cannot reach it (a parent directory is closed to it)',
      'choose a directory whose parents postgres can search (chmod o+x), e.g. under /var/tmp',
    )
}

async function certificates(run: Runner, t: Twin): Promise<void> {
  const ca = await ensureCa(run, t.layout.pki)
  const names = endpointNames(t)
  for (const c of t.clusters) {
    const s = c.layout
    const dns = [
      ...Object.keys(names).filter((n) => names[n] === s.serviceIp),
      'labdojo-primary.labdojo.svc',
      'localhost',
    ]
    await issue(run, ca, dirname(c.tls.cert), 'labdojo-primary.labdojo.svc', {
      dns,
      ip: [s.serviceIp, ...s.instances.map((i) => i.ip), '127.0.0.1'],
    })
    await replicationClient(run, ca, dirname(c.replication.cert))
  }
}

/**
 * The inventory the runbooks read, in `pulumi stack output --json`'s shape: the program's, with
 * each node at its site's Service address (the workstation does not resolve the private names),
 * TLS verified against the twin's CA. And a password file (0600) for the users PGO keeps.
 */
function writeInventory(t: Twin, out: string): void {
  const inv = structuredClone(t.rendered.inventory)
  const siteOf = (name: string) => t.layout.sites.find((s) => s.site === name)
  for (const n of inv.nodes) {
    const s = siteOf(n.site)
    if (!s) continue
    n.host = s.serviceIp
    n.port = PG_PORT
    n.sslmode = 'verify-full'
    n.sslRootCert = join(t.layout.pki, 'ca.crt')
  }
  const primary = t.clusters.find((c) => !c.spec.standby?.enabled)
  if (primary) inv.endpoint = { ...inv.endpoint, host: primary.layout.serviceIp, port: PG_PORT }
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({ inventory: inv }, null, 2) + '\n')
  const lines: string[] = []
  for (const c of t.clusters)
    for (const sec of Object.values(readStatus(c.layout).secrets))
      lines.push(`${c.layout.serviceIp}:${PG_PORT}:*:${sec.user}:${sec.password.replace(/([:\\])/g, '\\$1')}`)
  writeFileSync(t.layout.passFile, lines.join('\n') + '\n', { mode: 0o600 })
  chmodSync(t.layout.passFile, 0o600)
}

export interface SiteReport {
  site: string
  region: string
  namespace: string
  service: string
  members: { name: string; role: string; state: string; host: string }[] | null
}

export async function twinStatus(t: Twin): Promise<SiteReport[]> {
  return Promise.all(
    t.layout.sites.map(async (s: TwinSiteLayout) => ({
      site: s.site,
      region: s.region,
      namespace: s.ns,
      service: `${s.serviceIp}:${PG_PORT}`,
      members: (await members(s))?.map((m) => ({ name: m.name, role: m.role, state: m.state, host: m.host })) ?? null,
    })),
  )
}

export async function twinDown(run: Runner, t: Twin, o: { purge: boolean }): Promise<void> {
  for (const c of [...t.clusters].reverse()) await stopCluster(c.layout)
  await networkDown(run, t.layout)
  if (o.purge) rmSync(t.layout.stateDir, { recursive: true, force: true })
}
