/**
 * The local site's offsite store: s3rver (which lets unsigned requests through and does not check
 * SigV4 signatures: its lib/middleware/authentication.js) served behind a gate in the same process
 * that checks every request's signature against the site's key (sigv4-verify.ts) and answers
 * anything else with S3's own 403 error. One TLS port, nothing listening unguarded.
 *
 * Run as the site user: `node --import tsx s3rver-gate.ts CONFIG.json`; the config names the
 * data directory, the certificate and key, the port, the bucket and the secrets file (key=value
 * lines repo2-s3-key and repo2-s3-key-secret, 0600). No secret is ever on the command line.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { createRequire } from 'node:module'
import { verifySigV4, type SiteKey } from './sigv4-verify.ts'

export interface GateConfig {
  data: string
  cert: string
  key: string
  port: number
  bucket: string
  secretsFile: string
}

const require = createRequire(import.meta.url)

export function siteKeyFrom(secretsFile: string): SiteKey {
  const kv = Object.fromEntries(
    readFileSync(secretsFile, 'utf8')
      .split('\n')
      .map((l) => /^([\w-]+)=(.+)$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  )
  const accessKeyId = kv['repo2-s3-key']
  const secretAccessKey = kv['repo2-s3-key-secret']
  if (!accessKeyId || !secretAccessKey) throw new Error(`${secretsFile} has no repo2-s3-key / repo2-s3-key-secret`)
  return { accessKeyId, secretAccessKey }
}

const errorXml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`

export interface GatedS3 {
  /** s3rver's data directory */
  data: string
  buckets: string[]
  key: SiteKey
  /** TLS certificate and key (PEM) */
  cert: Buffer
  tlsKey: Buffer
  /** after S3 answered 200 to a request that stored an object (PUT, or a completed multipart upload) */
  onStored?: (bucket: string, key: string) => void
}

/** s3rver behind the SigV4 gate: one HTTPS server, nothing served unsigned (the caller listens). */
export async function gatedS3(g: GatedS3): Promise<Server> {
  const S3rver = require('s3rver') as new (o: object) => {
    callback(): (req: unknown, res: unknown) => void
    configureBuckets(): Promise<void>
    on(event: 'error', fn: (e: Error) => void): void
  }
  // s3rver's own account table: the site's key only (its built-in S3RVER/S3RVER pair revoked)
  const Account = require('s3rver/lib/models/account.js') as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void }
  }
  Account.DUMMY_ACCOUNT.revokeAccessKey('S3RVER')
  Account.DUMMY_ACCOUNT.createKeyPair(g.key.accessKeyId, g.key.secretAccessKey)
  const s3 = new S3rver({ directory: g.data, silent: true, configureBuckets: g.buckets.map((name) => ({ name })) })
  await s3.configureBuckets()
  // s3rver runs silent: its own failures (an S3 InternalError) go to the log with their cause
  s3.on('error', (e) => process.stdout.write(`${new Date().toISOString()} s3rver error: ${e.stack ?? e.message}\n`))
  const handle = s3.callback()
  return createServer({ key: g.tlsKey, cert: g.cert }, (req, res) => {
    verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }, g.key).then(
      (v) => {
        if (!v.ok) {
          process.stdout.write(`${new Date().toISOString()} refused ${req.method} ${req.url}: ${v.code} ${v.message}\n`)
          req.resume()
          res.writeHead(403, { 'content-type': 'application/xml', connection: 'close' })
          res.end(errorXml(v.code, v.message))
          return
        }
        const stored = g.onStored && storedObject(req.method ?? 'GET', req.url ?? '/', req.headers.host)
        if (stored) res.on('finish', () => res.statusCode === 200 && g.onStored!(stored.bucket, stored.key))
        handle(req, res)
      },
      (e: Error) => {
        res.writeHead(500, { 'content-type': 'application/xml' })
        res.end(errorXml('InternalError', e.message))
      },
    )
  })
}

/**
 * The object a request stores: a PUT that is not a part upload, or a multipart completion (POST
 * ?uploadId). Path-style (/bucket/key), or virtual-hosted (bucket.s3.<region>.amazonaws.com/key,
 * pgBackRest's default uri style; s3rver's lib/middleware/vhost.js serves it).
 */
export function storedObject(method: string, url: string, host?: string): { bucket: string; key: string } | null {
  const u = new URL(url, 'https://s3')
  const vhost = /^(.+)\.s3[.-][^:]*amazonaws\.com(?::\d+)?$/.exec(host ?? '')?.[1]
  const [, bucket, ...rest] = vhost ? ['', vhost, ...u.pathname.split('/').slice(1)] : u.pathname.split('/')
  if (!bucket || !rest.length || !rest.join('')) return null
  const key = rest.map(decodeURIComponent).join('/')
  if (method === 'PUT' && !u.searchParams.has('uploadId') && !u.searchParams.has('partNumber')) return { bucket, key }
  if (method === 'POST' && u.searchParams.has('uploadId')) return { bucket, key }
  return null
}

async function main(configFile: string): Promise<void> {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as GateConfig
  const server = await gatedS3({
    data: config.data,
    buckets: [config.bucket],
    key: siteKeyFrom(config.secretsFile),
    cert: readFileSync(config.cert),
    tlsKey: readFileSync(config.key),
  })
  server.listen(config.port, '127.0.0.1')
  const stop = () => server.close(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main(process.argv[2]!)
