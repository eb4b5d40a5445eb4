/**
 * Object storage adapter for the local site: an S3-compatible server (s3rver) over TLS with a
 * self-signed certificate. In the cloud stacks the repo is a real bucket; pgBackRest speaks
 * the same protocol to both.
 */
import { existsSync } from 'node:fs'
import { connect } from 'node:tls'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Runner } from './exec.ts'
import { giveToSiteUser, pidAlive, readPid, startDetached, stopByPidFile, waitFor } from './process.ts'

export interface S3ServerPaths {
  dir: string
  data: string
  cert: string
  key: string
  pid: string
  log: string
}

const require = createRequire(import.meta.url)
export const S3RVER_BIN = join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js')

/**
 * The server's self-signed certificate, which clients pin as their CA. It names 127.0.0.1 both
 * as an IP address (Node's check) and as a DNS name (pgBackRest 2.45 matches the host against the
 * common name and DNS names only). Returns true when it (re)generated one: an older certificate
 * without the DNS name is replaced, and the server must be restarted to serve it.
 */
export async function ensureCert(run: Runner, p: S3ServerPaths): Promise<boolean> {
  if (existsSync(p.cert) && existsSync(p.key) && (await namesLoopbackAsDns(run, p.cert))) return false
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost',
      '-keyout',
      p.key,
      '-out',
      p.cert,
    ],
    { timeoutMs: 60_000 },
  )
  giveToSiteUser(p.key)
  giveToSiteUser(p.cert)
  return true
}

async function namesLoopbackAsDns(run: Runner, cert: string): Promise<boolean> {
  const r = await run('openssl', ['x509', '-in', cert, '-noout', '-ext', 'subjectAltName'], {
    nothrow: true,
    timeoutMs: 10_000,
  })
  return /DNS:127\.0\.0\.1\b/.test(r.stdout)
}

export function s3Running(p: S3ServerPaths): boolean {
  return pidAlive(readPid(p.pid), 's3rver')
}

/** Is the TLS endpoint answering? */
export function tlsReachable(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, timeout: timeoutMs }, () => {
      s.end()
      resolve(true)
    })
    s.on('error', () => resolve(false))
    s.on('timeout', () => {
      s.destroy()
      resolve(false)
    })
  })
}

export async function startS3(p: S3ServerPaths, port: number, bucket: string): Promise<void> {
  if (s3Running(p) && (await tlsReachable(port))) return
  startDetached(
    process.execPath,
    [
      S3RVER_BIN,
      '-d',
      p.data,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--key',
      p.key,
      '--cert',
      p.cert,
      '--silent',
      '--configure-bucket',
      bucket,
    ],
    {
      log: p.log,
      pidFile: p.pid,
      asSiteUser: true,
    },
  )
  await waitFor(`s3rver on 127.0.0.1:${port} (log: ${p.log})`, () => tlsReachable(port), 20_000)
}

export function stopS3(p: S3ServerPaths): Promise<boolean> {
  return stopByPidFile(p.pid, 's3rver')
}
