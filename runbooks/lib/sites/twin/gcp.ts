/**
 * Google in the twin, from the program's GCP objects: its GCS buckets served by one GCS stand-in
 * in the WAN (gcs-api.ts; GCS is a global endpoint), who may do what in them (the buckets' IAM
 * members), the Storage Transfer jobs that feed them from the AWS replica vault, and in each GKE
 * region a metadata server with Workload Identity (gke-metadata.ts) for the PGO pods'
 * repo-gcs-key-type=auto. The workstation reads the vaults with a service-account key file of the
 * twin's own (the operator: the project's owner), whose token_uri is the stand-in's.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Runner } from '../../adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser, waitFor } from '../../adapters/process.ts'
import { issue } from './pki.ts'
import { startOnce, stopOnce } from './processes.ts'
import { bucketRegions } from './storage.ts'
import type { Rendered, Twin, TwinCluster } from './rendered.ts'
import type { GcsApiConfig } from './gcs-api.ts'
import type { GkeMetadataConfig } from './gke-metadata.ts'
import type { BucketBinding, WorkloadBinding } from './gcp-iam.ts'
import type { TwinSiteLayout } from './layout.ts'
import { PGO_STANZA } from '../../../../core/pgo.ts'

const GCS_API = fileURLToPath(new URL('./gcs-api.ts', import.meta.url))
const GKE_METADATA = fileURLToPath(new URL('./gke-metadata.ts', import.meta.url))
export const METADATA_IP = '169.254.169.254'
export const GCS_PORT = 443
/** the names a pod resolves to Google (the hosts files, network.ts) */
export const GOOGLE_NAMES = ['storage.googleapis.com', 'oauth2.googleapis.com']

const of = (r: Rendered, type: string) =>
  r.objects.filter((o) => o.type === type).map((o) => o.object as unknown as Record<string, unknown>)

export const gcsBuckets = (r: Rendered) => of(r, 'gcp:storage/bucket:Bucket').map((b) => String(b.name))
const gcpDir = (t: Twin) => join(t.layout.stateDir, 'gcp')
/** the operator's key, in a directory of its own that the site user (pgBackRest) owns, 0700 */
export const operatorKeyFile = (t: Twin) => join(t.layout.stateDir, 'gcp-operator', 'key.json')

/** The GKE sites: their cluster's repos are in GCS. */
export const gkeClusters = (t: Twin): TwinCluster[] =>
  t.clusters.filter((c) => c.spec.backups?.pgbackrest?.repos?.some((r) => r.gcs))

/** The names every namespace resolves to Google's stand-ins. */
export function googleHosts(t: Twin): Record<string, string> {
  if (!gcsBuckets(t.rendered).length) return {}
  return {
    ...Object.fromEntries(GOOGLE_NAMES.map((n) => [n, t.layout.gcsIp])),
    'metadata.google.internal': METADATA_IP,
  }
}

/** The operator's service-account key (RSA; the public half registered with the stand-in), once. */
function operatorKey(t: Twin, project: string): { email: string; publicKey: string } {
  const email = `twin-operator@${project}.iam.gserviceaccount.com`
  const file = operatorKeyFile(t)
  const pub = join(gcpDir(t), 'service-keys.json')
  if (!existsSync(file)) {
    mkdirForSiteUser(dirname(file), 0o700)
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const key = {
      type: 'service_account',
      project_id: project,
      client_email: email,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      token_uri: `https://${t.layout.gcsIp}/token`,
    }
    writeFileSync(file, JSON.stringify(key, null, 2), { mode: 0o600 })
    // pgBackRest reads it as the site user
    giveToSiteUser(file)
    writeFileSync(pub, JSON.stringify({ [email]: publicKey.export({ type: 'spki', format: 'pem' }) }), { mode: 0o600 })
  }
  return { email, publicKey: pub }
}

export async function startGcp(run: Runner, t: Twin, ca: { cert: string; key: string }, awsCredentials: string) {
  const buckets = gcsBuckets(t.rendered)
  if (!buckets.length) return
  const dir = gcpDir(t)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const secret = join(dir, 'token.key')
  if (!existsSync(secret)) writeFileSync(secret, randomBytes(32), { mode: 0o600 })
  const bindings = of(t.rendered, 'gcp:storage/bucketIAMMember:BucketIAMMember') as unknown as BucketBinding[]
  const project = String(of(t.rendered, 'gcp:serviceaccount/account:Account')[0]?.project ?? 'twin')
  const op = operatorKey(t, project)
  const tls = await issue(run, ca, join(dir, 'tls'), 'storage.googleapis.com', {
    dns: [...GOOGLE_NAMES, t.layout.gcsIp],
    ip: [t.layout.gcsIp],
  })
  const regions = bucketRegions(t)
  const config: GcsApiConfig = {
    host: t.layout.gcsIp,
    port: GCS_PORT,
    data: join(dir, 'data'),
    cert: tls.cert,
    key: tls.key,
    buckets,
    bindings,
    owners: [`serviceAccount:${op.email}`],
    tokenSecret: secret,
    serviceKeys: op.publicKey,
    transfers: of(t.rendered, 'gcp:storage/transferJob:TransferJob').map((j) => {
      const spec = j.transferSpec as {
        awsS3DataSource: { bucketName: string }
        gcsDataSink: { bucketName: string }
        objectConditions?: { includePrefixes?: string[] }
      }
      const every = String((j.schedule as { repeatInterval?: string } | undefined)?.repeatInterval ?? '3600s')
      return {
        name: String(j.description ?? spec.gcsDataSink.bucketName),
        source: { bucket: spec.awsS3DataSource.bucketName, region: regions.get(spec.awsS3DataSource.bucketName) ?? '' },
        prefixes: spec.objectConditions?.includePrefixes ?? [],
        sink: spec.gcsDataSink.bucketName,
        everySeconds: Number(every.replace(/s$/, '')),
      }
    }),
    transferAgent:
      bindings
        .find((b) => /@storage-transfer-service\.iam\.gserviceaccount\.com$/.test(b.member))
        ?.member.replace(/^serviceAccount:/, '') ?? '',
    awsCredentials,
    awsCa: join(t.layout.pki, 'ca.crt'),
    // the program's hourly warm sync every minute here (LABDOJO_TWIN_TIME_SCALE: 60 by default)
    timeScale: Number(process.env.LABDOJO_TWIN_TIME_SCALE ?? '60'),
  }
  const file = join(dir, 'gcs-api.json')
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 })
  startOnce({ dir, name: 'gcs-api', ns: t.layout.wanNs, as: 'root', cmd: GCS_API, args: [file], typescript: true })
  for (const c of gkeClusters(t)) await startMetadata(run, t, c.layout, c, secret)
}

/** PGO's instance pods run as <cluster>-instance (internal/naming/names.go), annotated from spec.metadata. */
async function startMetadata(run: Runner, t: Twin, s: TwinSiteLayout, c: TwinCluster, secret: string) {
  await run('ip', ['-n', s.ns, 'addr', 'replace', `${METADATA_IP}/32`, 'dev', 'lo'])
  const config: GkeMetadataConfig = {
    ip: METADATA_IP,
    port: 80,
    pod: {
      namespace: 'labdojo',
      ksa: 'labdojo-instance',
      annotatedAccount: c.spec.metadata?.annotations?.['iam.gke.io/gcp-service-account'],
    },
    bindings: of(t.rendered, 'gcp:serviceaccount/iAMMember:IAMMember') as unknown as WorkloadBinding[],
    tokenSecret: secret,
  }
  const dir = join(s.dir, 'metadata')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'gke-metadata.json')
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 })
  startOnce({ dir, name: 'gke-metadata', ns: s.ns, as: 'root', cmd: GKE_METADATA, args: [file], typescript: true })
}

export async function stopGcp(t: Twin): Promise<void> {
  for (const c of gkeClusters(t)) await stopOnce(join(c.layout.dir, 'metadata'), 'gke-metadata')
  await stopOnce(gcpDir(t), 'gcs-api')
}

/** Run every Storage Transfer job now (what the schedule would do at its next tick). */
export async function transferNow(t: Twin): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = request(
      {
        host: t.layout.gcsIp,
        port: GCS_PORT,
        path: '/twin/transfers',
        method: 'POST',
        ca: readFileSync(join(t.layout.pki, 'ca.crt')),
      },
      (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`transfers: ${res.statusCode}`))))
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/**
 * A repo-fed standby cluster (dr's warm) restores from its repo: wait until Storage Transfer has
 * copied the prod replica vault's backup there (the replica gets backup.info after the files it
 * lists, and a transfer copies whatever the source lists).
 */
export async function awaitTransferred(t: Twin, c: TwinCluster): Promise<void> {
  const repos = c.spec.backups?.pgbackrest?.repos ?? []
  const repo = repos.find((r) => r.name === c.spec.standby?.repoName) ?? repos[0]!
  const info = join(
    t.layout.stateDir,
    'gcp',
    'data',
    repo.gcs!.bucket,
    repoPathOf(c, repo.name),
    'backup',
    PGO_STANZA,
    'backup.info',
  )
  await waitFor(
    `Storage Transfer to bring a backup into ${repo.gcs!.bucket}`,
    async () => {
      await transferNow(t)
      return existsSync(info)
    },
    180_000,
  )
}

const repoPathOf = (c: TwinCluster, name: string) =>
  (c.spec.backups?.pgbackrest?.global?.[`${name}-path`] ?? `/pgbackrest/${name}`).replace(/^\//, '')
