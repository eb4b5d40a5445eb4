/**
 * The twin's S3: one server per region (s3-region.ts), inside the region's namespace, serving the
 * program's AWS buckets of that region and replicating them as the program's
 * BucketReplicationConfig says. A region cut off loses its buckets too.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Runner } from '../../adapters/exec.ts'
import { startOnce, stopOnce } from './processes.ts'
import { issue } from './pki.ts'
import { S3_PORT, s3Endpoint, siteOfRegion } from './backrest.ts'
import { inventoriesOf, type Twin } from './rendered.ts'
import type { TwinSiteLayout } from './layout.ts'
import type { S3RegionConfig } from './s3-region.ts'

const S3_REGION = fileURLToPath(new URL('./s3-region.ts', import.meta.url))

/** Every AWS bucket the program names (inventory buckets and repos, the clusters' S3 repos), by region. */
export function bucketRegions(t: Twin): Map<string, string> {
  const out = new Map<string, string>()
  for (const inv of inventoriesOf(t.rendered)) {
    for (const b of inv.buckets ?? []) if (b.provider === 'aws' && b.region) out.set(b.name, b.region)
    for (const r of inv.pgbackrest.repos) if (r.type === 's3' && r.bucket && r.region) out.set(r.bucket, r.region)
  }
  for (const c of t.clusters)
    for (const r of c.spec.backups?.pgbackrest?.repos ?? []) if (r.s3) out.set(r.s3.bucket, r.s3.region)
  return out
}

interface ReplicationObject {
  bucket: string
  region: string
  rules: { status: string; destination: { bucket: string } }[]
}

/** The program's replication rules (enabled ones), with the destination's region and server. */
function replicationRules(
  t: Twin,
  regions: Map<string, string>,
): (S3RegionConfig['replication'][number] & { sourceRegion: string })[] {
  return t.rendered.objects
    .filter((o) => o.type === 'aws:s3/bucketReplicationConfig:BucketReplicationConfig')
    .flatMap((o) => {
      const r = o.object as unknown as ReplicationObject
      return r.rules
        .filter((x) => x.status === 'Enabled')
        .map((x) => {
          const destination = x.destination.bucket.replace(/^arn:aws:s3:::/, '')
          const destinationRegion = regions.get(destination) ?? ''
          const site = siteOfRegion(t, destinationRegion)
          if (!site)
            throw new Error(`the twin has no region ${destinationRegion || '?'} for the replica bucket ${destination}`)
          return {
            source: r.bucket,
            sourceRegion: r.region,
            destination,
            destinationRegion,
            destinationEndpoint: s3Endpoint(site),
          }
        })
    })
}

/** The regions that hold buckets, each with its first site (where its S3 server runs). */
function regionSites(t: Twin): TwinSiteLayout[] {
  return t.layout.sites.filter((s, k, all) => all.findIndex((x) => x.region === s.region) === k)
}

export async function startS3Regions(
  run: Runner,
  t: Twin,
  ca: { cert: string; key: string },
  credentials: string,
): Promise<void> {
  const regions = bucketRegions(t)
  const rules = replicationRules(t, regions)
  for (const s of regionSites(t)) {
    const buckets = bucketsIn(regions, s.region)
    if (!buckets.length) continue
    const dir = join(s.dir, 's3')
    // pgBackRest 2.45 matches the host against the certificate's names only: the address is a DNS name too
    const tls = await issue(run, ca, join(dir, 'tls'), `s3.${s.region}.twin`, {
      dns: [s.hostIp, ...awsS3Names(s.region, buckets)],
      ip: [s.hostIp],
    })
    const config: S3RegionConfig = {
      region: s.region,
      host: s.hostIp,
      port: S3_PORT,
      data: join(dir, 'data'),
      buckets,
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      credentials,
      replication: rules.filter((r) => r.sourceRegion === s.region).map(({ sourceRegion: _, ...r }) => r),
    }
    const file = join(dir, 'config.json')
    writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 })
    // s3rver's continuation tokens (a listing past 1,000 keys) use DES: OpenSSL 3's legacy provider
    startOnce({
      dir,
      name: 's3-region',
      ns: s.ns,
      as: 'root',
      cmd: S3_REGION,
      args: [file],
      typescript: true,
      env: { NODE_OPTIONS: '--openssl-legacy-provider' },
    })
  }
}

/** The buckets of one region. */
const bucketsIn = (regions: Map<string, string>, region: string) =>
  [...regions].filter(([, r]) => r === region).map(([b]) => b)

/** AWS's names for a region's S3 and its buckets (virtual-hosted style, pgBackRest's default). */
export const awsS3Names = (region: string, buckets: string[]) => [
  `s3.${region}.amazonaws.com`,
  ...buckets.map((b) => `${b}.s3.${region}.amazonaws.com`),
]

/** Where a pod resolves AWS's S3 names: the server of the bucket's region (the hosts files, network.ts). */
export function awsS3Hosts(t: Twin): Record<string, string> {
  const out: Record<string, string> = {}
  const regions = bucketRegions(t)
  for (const s of regionSites(t)) {
    const buckets = bucketsIn(regions, s.region)
    if (buckets.length) for (const n of awsS3Names(s.region, buckets)) out[n] = s.hostIp
  }
  return out
}

export async function stopS3Regions(t: Twin): Promise<void> {
  for (const s of regionSites(t)) await stopOnce(join(s.dir, 's3'), 's3-region')
}

/** Wait until every region's S3 answers TLS (an unsigned request is refused: 403 means it serves). */
export async function s3Answering(t: Twin, ca: string): Promise<boolean> {
  const pem = readFileSync(ca)
  const sites = regionSites(t).filter((s) => [...bucketRegions(t).values()].includes(s.region))
  const one = (s: TwinSiteLayout) =>
    new Promise<boolean>((resolve) => {
      const req = request({ host: s.hostIp, port: S3_PORT, path: '/', ca: pem, timeout: 1000 }, (res) => {
        res.resume()
        resolve(res.statusCode === 403)
      })
      req.on('error', () => resolve(false))
      req.on('timeout', () => req.destroy())
      req.end()
    })
  return (await Promise.all(sites.map(one))).every(Boolean)
}
