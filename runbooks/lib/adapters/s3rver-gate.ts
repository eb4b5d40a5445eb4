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
import { createServer } from 'node:https'
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

async function main(configFile: string): Promise<void> {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as GateConfig
  const siteKey = siteKeyFrom(config.secretsFile)
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
  Account.DUMMY_ACCOUNT.createKeyPair(siteKey.accessKeyId, siteKey.secretAccessKey)
  const s3 = new S3rver({ directory: config.data, silent: true, configureBuckets: [{ name: config.bucket }] })
  await s3.configureBuckets()
  // s3rver runs silent: its own failures (an S3 InternalError) go to the log with their cause
  s3.on('error', (e) => process.stdout.write(`${new Date().toISOString()} s3rver error: ${e.stack ?? e.message}\n`))
  const handle = s3.callback()
  const server = createServer({ key: readFileSync(config.key), cert: readFileSync(config.cert) }, (req, res) => {
    verifySigV4({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }, siteKey).then(
      (v) => {
        if (v.ok) return handle(req, res)
        process.stdout.write(`${new Date().toISOString()} refused ${req.method} ${req.url}: ${v.code} ${v.message}\n`)
        req.resume()
        res.writeHead(403, { 'content-type': 'application/xml', connection: 'close' })
        res.end(errorXml(v.code, v.message))
      },
      (e: Error) => {
        res.writeHead(500, { 'content-type': 'application/xml' })
        res.end(errorXml('InternalError', e.message))
      },
    )
  })
  server.listen(config.port, '127.0.0.1')
  const stop = () => server.close(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) await main(process.argv[2]!)
