/**
 * Object storage adapter for the local site: an S3-compatible server (s3rver) over TLS with a
 * self-signed certificate, behind a gate that refuses every request not signed with the site's
 * key (s3rver-gate.ts). In the cloud stacks the repo is a real bucket; pgBackRest speaks the same
 * protocol to both.
 */
import { existsSync, writeFileSync } from 'node:fs'
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

/** Where an S3 server kept in `dir` has its data, certificate, key, pid file and log. */
export function s3ServerPaths(dir: string): S3ServerPaths {
  const f = (name: string) => join(dir, name)
  return { dir, data: f('data'), cert: f('cert.pem'), key: f('key.pem'), pid: f('s3rver.pid'), log: f('s3rver.log') }
}

const require = createRequire(import.meta.url)
const GATE = join(dirname(new URL(import.meta.url).pathname), 's3rver-gate.ts')
const TSX = require.resolve('tsx')

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

/** Is the running server the gated one (an older site may still run s3rver bare, open to anyone)? */
export function s3Gated(p: S3ServerPaths): boolean {
  return pidAlive(readPid(p.pid), 's3rver-gate.ts')
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

/** Start the gated server; `secretsFile` holds the site's key (repo2-s3-key, repo2-s3-key-secret). */
export async function startS3(p: S3ServerPaths, port: number, bucket: string, secretsFile: string): Promise<void> {
  if (s3Gated(p) && (await tlsReachable(port))) return
  const config = join(p.dir, 'gate.json')
  writeFileSync(config, JSON.stringify({ data: p.data, cert: p.cert, key: p.key, port, bucket, secretsFile }) + '\n')
  giveToSiteUser(config)
  // s3rver's continuation tokens (a listing past 1,000 keys) use DES, which OpenSSL 3 keeps in its legacy provider
  startDetached(process.execPath, ['--openssl-legacy-provider', '--import', TSX, GATE, config], {
    log: p.log,
    pidFile: p.pid,
    asSiteUser: true,
    env: { NODE_OPTIONS: '' },
  })
  await waitFor(`the S3 server on 127.0.0.1:${port} (log: ${p.log})`, () => tlsReachable(port), 20_000)
}

export function stopS3(p: S3ServerPaths): Promise<boolean> {
  return stopByPidFile(p.pid, 's3rver')
}
