/**
 * The cloud twin: a stack's PostgresClusters, rendered by the real program under Pulumi's mock
 * runtime, run here as PGO would run them (pgo.ts), each site in its own network namespace
 * (network.ts). `up` renders, builds the network and certificates, starts the primary cluster
 * first and its standby clusters after, writes the users as PGO does, and writes the inventory
 * the runbooks read (the program's own, its addresses bound to the twin's), with a password
 * file for the runbooks' user. Re-running `up` starts only what is missing.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { startOnce, stopOnce } from './processes.ts'
import type { Runner } from '../../adapters/exec.ts'
import { inventoriesOf, type Rendered, type Twin } from './rendered.ts'
export type { Twin } from './rendered.ts'
import { inputError } from '../../../../core/errors.ts'
import { AUTO_CREATE_USER_SCHEMA_ANNOTATION, type PgoSpec } from '../../../../core/pgo.ts'
import { clusterTls, twinLayout, PG_PORT, type TwinSiteLayout } from './layout.ts'
import { networkDown, networkUp } from './network.ts'
import { latencyDown, latencyUp } from './latency.ts'
import { startExporters, stopExporters } from './exporters.ts'
import { ensureCa, issue, replicationClient } from './pki.ts'
import { writeInstanceBackrest } from './backrest.ts'
import { awsS3Hosts, s3Answering, startS3Regions, stopS3Regions } from './storage.ts'
import { waitFor } from '../../adapters/process.ts'
import { apiTlsDir } from './in-cluster.ts'
import { awaitTransferred, gkeClusters, googleHosts, startGcp, stopGcp } from './gcp.ts'
import { awsCredentialsFile, awsKey, twinEnv, writeInventory, writeKubeconfig } from './outputs.ts'
export { awsKey, inventoryFiles, kubeconfigOf, twinEnv } from './outputs.ts'
import {
  KUBE_API_PORT,
  reconcileBackrest,
  members,
  reconcileUsers,
  startCluster,
  startKubeApi,
  stopCluster,
  waitReady,
  type TwinCluster,
} from './pgo.ts'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

/** Run the program under the mock runtime in its own process (one stack per process). */
async function renderStack(run: Runner, stack: string, prodOutputs?: string): Promise<Rendered> {
  const args = [
    join(ROOT, 'infra/render-k8s.ts'),
    '--stack',
    stack,
    ...(prodOutputs ? ['--prod-outputs', prodOutputs] : []),
  ]
  const r = await run(join(ROOT, 'node_modules/.bin/tsx'), args, { cwd: ROOT, timeoutMs: 120_000 })
  return JSON.parse(r.stdout) as Rendered
}

/**
 * A stack, or both (`all`): dr reads prod through its StackReference, so dr is rendered with the
 * outputs prod's render exported (its users' passwords, its cipher pass, its replica bucket).
 */
async function render(run: Runner, stack: string, stateDir: string): Promise<Rendered> {
  if (stack !== 'all') return renderStack(run, stack)
  const prod = await renderStack(run, 'prod')
  const outputs = join(stateDir, 'prod-outputs.json')
  writeFileSync(outputs, JSON.stringify(prod.outputs ?? {}), { mode: 0o600 })
  const dr = await renderStack(run, 'dr', outputs)
  return {
    stack: 'all',
    inventory: prod.inventory,
    inventories: [prod.inventory, dr.inventory],
    outputs: { prod: prod.outputs, dr: dr.outputs },
    objects: [...prod.objects, ...dr.objects],
  }
}

const PGO_KIND = 'kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster'

/** The program's PostgresClusters in start order (primary clusters before their standbys), with their sites and regions. */
function clusterSpecs(r: Rendered) {
  const sites = inventoriesOf(r).flatMap((i) => i.sites)
  const regionOf = (site: string) => sites.find((s) => s.name === site)?.region ?? site
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
      autoCreateUserSchema: autoCreateUserSchema(rendered, s.site),
      tls: clusterTls(site),
      replication: {
        ca: join(site.dir, 'replication', 'ca.crt'),
        cert: join(site.dir, 'replication', 'tls.crt'),
        key: join(site.dir, 'replication', 'tls.key'),
      },
    }
  })
  return { layout, rendered, clusters }
}

/** PGO writes the users' schemas when its AutoCreateUserSchema gate is on (the chart's features) and the cluster is annotated. */
function autoCreateUserSchema(r: Rendered, site: string): boolean {
  const gate = r.objects.some(
    (o) =>
      o.type === 'kubernetes:helm.sh/v3:Release' &&
      o.name.startsWith(`${site}-`) &&
      (o.object as { values?: { features?: Record<string, unknown> } }).values?.features?.AutoCreateUserSchema === true,
  )
  const cluster = r.objects.find((o) => o.type === PGO_KIND && o.object.metadata.labels?.['labdojo.com/site'] === site)
  const annotated = cluster?.object.metadata.annotations?.[AUTO_CREATE_USER_SCHEMA_ANNOTATION]?.toLowerCase() === 'true'
  return gate && annotated
}

/** The names the program gives each site's endpoint, bound to the site's Service (the private DNS stand-in). */
function endpointNames(t: Twin): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of inventoriesOf(t.rendered).flatMap((i) => i.nodes)) {
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
    const rendered = await render(run, o.stack, o.stateDir)
    writeFileSync(join(o.stateDir, 'rendered.json'), JSON.stringify(rendered), { mode: 0o600 })
    writeFileSync(stateFile(o.stateDir), JSON.stringify({ stack: o.stack, basePort: o.basePort }) + '\n')
    t = twinOf(o.stateDir, o.basePort, rendered)
  }
  await networkUp(run, t.layout, { ...endpointNames(t), ...awsS3Hosts(t), ...googleHosts(t) })
  await latencyUp(run, t.layout)
  startAwsApi(t)
  const ca = await certificates(run, t)
  await startS3Regions(run, t, ca, awsCredentialsFile(t))
  await waitFor("the twin's S3 servers", () => s3Answering(t, join(t.layout.pki, 'ca.crt')), 30_000)
  await startGcp(run, t, ca, awsCredentialsFile(t))
  const key = awsKey(t)
  for (const c of t.clusters) {
    for (const i of c.layout.instances) writeInstanceBackrest(t, c, i, key)
    // a repo-fed standby cluster restores its first instance from the repo: the transfer must have landed
    if (gkeClusters(t).includes(c) && c.spec.standby?.enabled) await awaitTransferred(t, c)
    await startCluster(c)
    // a standby cluster's replicas follow its leader; the next cluster needs only a leader to stream from
    await waitReady(c.layout, { all: true, timeoutMs: 180_000 })
    await reconcileUsers(run, c)
    await reconcileBackrest(run, c)
    startKubeApi(c.layout, o.stateDir)
  }
  writeKubeconfig(t)
  writeInventory(t, o.out)
  await waitAnswering(t)
  const env = twinEnv(t)
  // the pods' web identity, here the stand-ins' endpoint and key
  startExporters(t, {
    SSL_CERT_FILE: podTrustStore(t),
    LABDOJO_CLOUDWATCH_ENDPOINT: env.LABDOJO_CLOUDWATCH_ENDPOINT!,
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID!,
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY!,
  })
  return t
}

/**
 * A pod's trust store: the image's public CAs, which in the twin include the CA that signs the
 * stand-ins for AWS's endpoints (OpenSSL's default verify paths honour SSL_CERT_FILE).
 */
function podTrustStore(t: Twin): string {
  const file = join(t.layout.pki, 'pod-trust.crt')
  const system = '/etc/ssl/certs/ca-certificates.crt'
  const publicCas = existsSync(system) ? readFileSync(system, 'utf8') : ''
  writeFileSync(file, publicCas + readFileSync(join(t.layout.pki, 'ca.crt'), 'utf8'), { mode: 0o644 })
  return file
}

/** The DNS names the program's server certificate request for a site carries. */
function programNames(t: Twin, site: string): string[] {
  const req = t.rendered.objects.find(
    (o) => o.type === 'tls:index/certRequest:CertRequest' && o.name.startsWith(`${site}-`) && !/repl/.test(o.name),
  )
  return ((req?.object as { dnsNames?: string[] } | undefined)?.dnsNames ?? []).filter(Boolean)
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

async function certificates(run: Runner, t: Twin): Promise<{ cert: string; key: string }> {
  const ca = await ensureCa(run, t.layout.pki)
  const names = endpointNames(t)
  for (const c of t.clusters) {
    const s = c.layout
    // the names the program's certificate request gives (replication-tls.ts), and the twin's addresses for them
    const dns = [
      ...new Set([...programNames(t, s.site), ...Object.keys(names).filter((n) => names[n] === s.serviceIp)]),
    ]
    await issue(run, ca, dirname(c.tls.cert), 'labdojo-primary.labdojo.svc', {
      dns,
      ip: [s.serviceIp, t.layout.endpointIp, ...s.instances.map((i) => i.ip)],
    })
    await replicationClient(run, ca, dirname(c.replication.cert))
    // the region's API server at the in-cluster address (in-cluster.ts)
    await issue(run, ca, apiTlsDir(s), 'kube-apiserver', {
      dns: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ip: [s.apiIp],
    })
  }
  return ca
}

const AWS_API = fileURLToPath(new URL('./aws-api.ts', import.meta.url))

/** The AWS stand-ins (aws-api.ts) in the WAN namespace, with a key of the twin's own (0600). */
function startAwsApi(t: Twin): void {
  const dir = join(t.layout.stateDir, 'aws')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const creds = awsCredentialsFile(t)
  if (!existsSync(creds))
    writeFileSync(
      creds,
      JSON.stringify({
        accessKeyId: `AKIATWIN${randomBytes(6).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64url'),
      }),
      { mode: 0o600 },
    )
  const api = new URL(t.layout.awsApi)
  const args = [t.layout.stateDir, api.hostname, api.port, t.layout.endpointIp, String(PG_PORT)]
  startOnce({ dir, name: 'aws-api', ns: t.layout.wanNs, as: 'root', cmd: AWS_API, args, typescript: true })
}

/** Wait until the stand-ins answer (the processes take a moment to load). */
async function waitAnswering(t: Twin): Promise<void> {
  const urls = [
    `${t.layout.awsApi}/twin/answer?name=`,
    ...t.layout.sites.map((s) => `http://${s.hostIp}:${KUBE_API_PORT}/version`),
  ]
  for (const url of urls) {
    let ok = false
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      )
      if (!ok) await new Promise((r) => setTimeout(r, 200))
    }
    if (!ok) throw new Error(`the twin's ${url} does not answer (logs under ${t.layout.stateDir})`)
  }
  const env = Object.entries(twinEnv(t))
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')
  writeFileSync(join(t.layout.stateDir, 'env'), env + '\n', { mode: 0o600 })
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
  await stopExporters(t)
  for (const c of [...t.clusters].reverse()) await stopCluster(c.layout)
  await stopGcp(t)
  await stopS3Regions(t)
  await stopOnce(join(t.layout.stateDir, 'aws'), 'aws-api')
  await latencyDown(t.layout)
  await networkDown(run, t.layout)
  if (o.purge) rmSync(t.layout.stateDir, { recursive: true, force: true })
}
