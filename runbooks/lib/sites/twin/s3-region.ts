/**
 * One region's S3 in the twin: s3rver behind the SigV4 gate (adapters/s3rver-gate.ts) on the
 * region's own address, over TLS with a certificate of the twin's CA, serving the program's
 * buckets of that region. And the buckets' cross-region replication as the program declares it
 * (aws:s3/BucketReplicationConfig, infra/components/backup-vault.ts): every object stored in a
 * source bucket is copied, asynchronously, to the destination bucket in the other region; a
 * delete is never replicated (deleteMarkerReplication Disabled). A copy that fails (the other
 * region cut off) is retried until it lands, as S3 retries replication; a restart of this process
 * forgets the copies still queued (S3 would not), which the twin's tests never rely on. It also
 * answers on 443 under AWS's names (the regions' hosts files map them here).
 * usage: tsx s3-region.ts CONFIG.json (as root inside the region's namespace; no secret in argv)
 */
import { readFileSync } from 'node:fs'
import { connect, createServer as createNetServer } from 'node:net'
import { gatedS3 } from '../../adapters/s3rver-gate.ts'
import { ObjectStore } from '../../adapters/object-store.ts'
import type { SiteKey } from '../../adapters/sigv4-verify.ts'

export interface S3RegionConfig {
  region: string
  host: string
  port: number
  data: string
  buckets: string[]
  cert: string
  key: string
  ca: string
  /** the twin's AWS key ({accessKeyId, secretAccessKey}, 0600) */
  credentials: string
  replication: { source: string; destination: string; destinationRegion: string; destinationEndpoint: string }[]
}

/**
 * AWS's own names and port (s3.<region>.amazonaws.com:443, bucket.s3...): what a pod with no
 * rewritten configuration reaches (the exporter); the same server, behind a TCP forward.
 */
function awsPort(c: S3RegionConfig) {
  const https = createNetServer((sock) => {
    const to = connect(c.port, c.host)
    sock.pipe(to).pipe(sock)
    sock.on('error', () => to.destroy())
    to.on('error', () => sock.destroy())
  })
  return https.listen(443, c.host)
}

async function main(configFile: string): Promise<void> {
  const c = JSON.parse(readFileSync(configFile, 'utf8')) as S3RegionConfig
  const key = JSON.parse(readFileSync(c.credentials, 'utf8')) as SiteKey
  const ca = readFileSync(c.ca, 'utf8')
  const stores = new Map<string, ObjectStore>()
  const store = (endpoint: string, bucket: string, region: string) => {
    const id = `${endpoint}/${bucket}`
    if (!stores.has(id)) stores.set(id, new ObjectStore({ endpoint, bucket, region, ca, ...key, timeoutMs: 60_000 }))
    return stores.get(id)!
  }
  const queue: { rule: S3RegionConfig['replication'][number]; key: string; attempt: number }[] = []
  let busy = false
  const pump = async () => {
    if (busy) return
    busy = true
    while (queue.length) {
      const job = queue.shift()!
      const { rule } = job
      try {
        const body = await store(`https://${c.host}:${c.port}`, rule.source, c.region).get(job.key)
        const length = Number(body.headers['content-length'] ?? 0)
        await store(rule.destinationEndpoint, rule.destination, rule.destinationRegion).put(job.key, body, length)
      } catch (e) {
        job.attempt++
        process.stdout.write(
          `${new Date().toISOString()} replication of ${rule.source}/${job.key} to ${rule.destination} failed (attempt ${job.attempt}): ${(e as Error).message}\n`,
        )
        // S3 keeps trying: here after a pause that grows to 30 s
        setTimeout(
          () => {
            queue.push(job)
            void pump()
          },
          Math.min(30_000, 500 * 2 ** job.attempt),
        )
      }
    }
    busy = false
  }
  const server = await gatedS3({
    data: c.data,
    buckets: c.buckets,
    key,
    cert: readFileSync(c.cert),
    tlsKey: readFileSync(c.key),
    onStored: (bucket, k) => {
      for (const rule of c.replication.filter((r) => r.source === bucket)) queue.push({ rule, key: k, attempt: 0 })
      void pump()
    },
  })
  server.listen(c.port, c.host)
  const https = awsPort(c)
  const stop = () => {
    https.close()
    server.close(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

await main(process.argv[2]!)
