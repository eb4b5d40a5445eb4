/**
 * What the twin writes for the runbooks, in the shapes they read: each stack's inventory (as
 * `pulumi stack output --json` gives it, with the twin's addresses), the password file for the
 * users PGO keeps (PGPASSFILE), kubectl's configuration for the regions' API stand-ins, and the
 * environment a runbook uses the twin with (twinEnv).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Inventory } from '../../../../core/inventory.ts'
import { inventoriesOf, type Twin } from './rendered.ts'
import { PG_PORT, type TwinSiteLayout } from './layout.ts'
import { S3_PORT, siteOfRegion } from './backrest.ts'
import { GCS_PORT, gcsBuckets, operatorKeyFile } from './gcp.ts'
import { KUBE_API_PORT, readStatus } from './pgo.ts'

/**
 * Where each stack's inventory goes: the file asked for; with both stacks, twin-prod.json and
 * twin-dr.json beside it.
 */
export const inventoryFiles = (t: Twin, out: string): Record<string, string> =>
  t.rendered.inventories
    ? Object.fromEntries(t.rendered.inventories.map((i) => [i.stack, join(dirname(out), `twin-${i.stack}.json`)]))
    : { [t.rendered.inventory.stack]: out }

/**
 * The inventory the runbooks read, in `pulumi stack output --json`'s shape: the program's, with
 * each node at its site's Service address (the workstation does not resolve the private names),
 * TLS verified against the twin's CA. And a password file (0600) for the users PGO keeps.
 */
export function writeInventory(t: Twin, out: string): void {
  const files = inventoryFiles(t, out)
  for (const inv of inventoriesOf(t.rendered)) writeStackInventory(t, structuredClone(inv), files[inv.stack]!)
  writePassFile(t)
}

function writeStackInventory(t: Twin, inv: Inventory, out: string): void {
  const siteOf = (name: string) => t.layout.sites.find((s) => s.site === name)
  for (const n of inv.nodes) {
    const s = siteOf(n.site)
    if (!s) continue
    n.host = s.serviceIp
    n.port = PG_PORT
    n.sslmode = 'verify-full'
    n.sslRootCert = join(t.layout.pki, 'ca.crt')
  }
  // each S3 repo at its region's server (the program names AWS's endpoint)
  for (const r of inv.pgbackrest.repos) {
    const s = r.type === 's3' && r.region ? siteOfRegion(t, r.region) : undefined
    if (s) r.endpoint = `${s.hostIp}:${S3_PORT}`
    // GCS at its stand-in (the workstation does not resolve storage.googleapis.com)
    if (r.type === 'gcs') r.endpoint = `${t.layout.gcsIp}:${GCS_PORT}`
  }
  // the failover record's name, where Route53's stand-in answers (aws-api.ts); dr's Cloud DNS record has no stand-in yet: the warm Service
  const warm = inv.stack === 'dr' ? siteOf(inv.nodes[0]?.site ?? '') : undefined
  inv.endpoint = { ...inv.endpoint, host: warm?.serviceIp ?? t.layout.endpointIp, port: PG_PORT }
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({ inventory: inv }, null, 2) + '\n')
}

function writePassFile(t: Twin): void {
  const lines: string[] = []
  const line = (host: string, sec: { user: string; password: string }) =>
    `${host}:${PG_PORT}:*:${sec.user}:${sec.password.replace(/([:\\])/g, '\\$1')}`
  for (const c of t.clusters)
    for (const sec of Object.values(readStatus(c.layout).secrets)) lines.push(line(c.layout.serviceIp, sec))
  // the endpoint leads to whichever cluster Route53 names: one password per user for the chain (N2)
  const first = t.clusters[0]
  if (first)
    for (const sec of Object.values(readStatus(first.layout).secrets)) lines.push(line(t.layout.endpointIp, sec))
  writeFileSync(t.layout.passFile, lines.join('\n') + '\n', { mode: 0o600 })
  chmodSync(t.layout.passFile, 0o600)
}

/** kubectl's configuration: each node's kube context -> its region's API stand-in (KUBECONFIG). */
export function writeKubeconfig(t: Twin): void {
  const contexts = new Map<string, TwinSiteLayout>()
  for (const n of inventoriesOf(t.rendered).flatMap((i) => i.nodes)) {
    const s = t.layout.sites.find((x) => x.site === n.site)
    if (s && n.kubeContext) contexts.set(n.kubeContext, s)
  }
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [...contexts].map(([name, s]) => ({ name, cluster: { server: `http://${s.hostIp}:${KUBE_API_PORT}` } })),
    users: [{ name: 'twin', user: {} }],
    contexts: [...contexts.keys()].map((name) => ({
      name,
      context: { cluster: name, user: 'twin', namespace: 'labdojo' },
    })),
    'current-context': [...contexts.keys()][0],
  }
  writeFileSync(kubeconfigOf(t), JSON.stringify(cfg, null, 2), { mode: 0o600 })
}
export const kubeconfigOf = (t: Twin) => join(t.layout.stateDir, 'kubeconfig')

/**
 * What a runbook needs to use the twin as a stack (the file is 0600: it holds the twin's AWS key):
 * the password file, kubectl's configuration, the AWS stand-ins' endpoints and key.
 */
export const awsCredentialsFile = (t: Twin) => join(t.layout.stateDir, 'aws', 'credentials.json')
export const awsKey = (t: Twin) =>
  JSON.parse(readFileSync(awsCredentialsFile(t), 'utf8')) as { accessKeyId: string; secretAccessKey: string }

/** The repo cipher pass the program gives the primary's pgBackRest (its configuration Secret, cipher.conf). */
function repoCipherPass(t: Twin): string | undefined {
  for (const o of t.rendered.objects) {
    const m = /^repo\d+-cipher-pass=(.+)$/m.exec(o.object.stringData?.['cipher.conf'] ?? '')
    if (o.type === 'kubernetes:core/v1:Secret' && m) return m[1]
  }
  return undefined
}

export function twinEnv(t: Twin): Record<string, string> {
  const key = awsKey(t)
  const cipher = repoCipherPass(t)
  const gcs: Record<string, string> = gcsBuckets(t.rendered).length
    ? { LABDOJO_GCS_KEY_FILE: operatorKeyFile(t), LABDOJO_GCS_CA_FILE: join(t.layout.pki, 'ca.crt') }
    : {}
  return {
    ...gcs,
    LABDOJO_S3_CA_FILE: join(t.layout.pki, 'ca.crt'),
    ...(cipher ? { LABDOJO_REPO_CIPHER_PASS: cipher } : {}),
    PGPASSFILE: t.layout.passFile,
    KUBECONFIG: kubeconfigOf(t),
    LABDOJO_ROUTE53_ENDPOINT: t.layout.awsApi,
    LABDOJO_CLOUDWATCH_ENDPOINT: t.layout.awsApi,
    AWS_ACCESS_KEY_ID: key.accessKeyId,
    AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
  }
}
