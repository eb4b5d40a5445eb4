/**
 * What the local offsite store's signature gate costs: the same objects put, listed and read
 * through the gate (every request's SigV4 signature checked with the site's key) and through
 * s3rver alone (no check), alternating, over TLS on 127.0.0.1. Prints medians and the ratio.
 *
 *   npx tsx bench/s3-gate.ts [--objects N] [--mib M] [--runs R]
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import {
  ensureCert,
  s3ServerPaths,
  startS3,
  stopS3,
  tlsReachable,
  type S3ServerPaths,
} from '../runbooks/lib/adapters/s3-server.ts'
import { ObjectStore } from '../runbooks/lib/adapters/object-store.ts'
import { run } from '../runbooks/lib/adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser, startDetached, waitFor } from '../runbooks/lib/adapters/process.ts'
import { median, table, timed } from './lib.ts'

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '200' },
    mib: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
  },
})
const objects = Number(values.objects)
const bytes = Number(values.mib) * 1024 * 1024
const runs = Number(values.runs)
const KEY = { accessKeyId: 'LDBENCHKEY', secretAccessKey: 'bench-secret-0123456789abcdef' }

const base = mkdtempSync('/var/tmp/labdojo-bench-s3gate-')
chmodSync(base, 0o755)
const paths = (name: string): S3ServerPaths => {
  const p = s3ServerPaths(join(base, name))
  mkdirForSiteUser(p.dir)
  mkdirForSiteUser(p.data)
  return p
}

/** The gated store (as `local.ts up` starts it) and bare s3rver (as the site ran it before). */
async function startBoth(): Promise<{ gated: S3ServerPaths; bare: S3ServerPaths }> {
  const gated = paths('gated')
  const bare = paths('bare')
  await ensureCert(run, gated)
  await ensureCert(run, bare)
  const secrets = join(base, 'secrets.conf')
  writeFileSync(secrets, `repo2-s3-key=${KEY.accessKeyId}\nrepo2-s3-key-secret=${KEY.secretAccessKey}\n`, {
    mode: 0o600,
  })
  giveToSiteUser(secrets)
  await startS3(gated, 27181, 'b', secrets)
  // the baseline: s3rver as the site ran it before the gate (its built-in key, nothing checked)
  const bin = join(dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js')
  startDetached(
    process.execPath,
    [
      '--openssl-legacy-provider',
      bin,
      '-d',
      bare.data,
      '-a',
      '127.0.0.1',
      '-p',
      '27182',
      '--key',
      bare.key,
      '--cert',
      bare.cert,
      '--silent',
      '--configure-bucket',
      'b',
    ],
    { log: bare.log, pidFile: bare.pid, asSiteUser: true },
  )
  await waitFor('bare s3rver', () => tlsReachable(27182), 20_000)
  return { gated, bare }
}

async function main() {
  const { gated, bare } = await startBoth()
  const store = (port: number, p: S3ServerPaths, key: { accessKeyId: string; secretAccessKey: string }) =>
    new ObjectStore({
      endpoint: `https://127.0.0.1:${port}`,
      bucket: 'b',
      region: 'us-east-1',
      ...key,
      ca: readFileSync(p.cert, 'utf8'),
    })
  const body = Buffer.alloc(bytes, 7)
  const cycle = async (s: ObjectStore) => {
    for (let i = 0; i < objects; i++) await s.put(`o/${i}`, Readable.from([body]), body.length)
    if ((await s.list('o/')).length !== objects) throw new Error('list short')
    for (let i = 0; i < objects; i++) for await (const _ of await s.get(`o/${i}`)) void _
    for (let i = 0; i < objects; i++) await s.delete(`o/${i}`)
  }
  const times = { gated: [] as number[], bare: [] as number[] }
  for (let r = 0; r < runs; r++) {
    for (const [name, s] of [
      ['bare', store(27182, bare, { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' })],
      ['gated', store(27181, gated, KEY)],
    ] as const) {
      const [t] = await timed(() => cycle(s))
      times[name].push(t)
      s.close()
    }
  }
  const g = median(times.gated)
  const b = median(times.bare)
  process.stdout.write(
    `${objects} objects of ${values.mib} MiB: put, list, get, delete (${runs} alternating runs)\n` +
      table([
        ['store', 'median s', 'runs'],
        ['s3rver alone (no check)', b, times.bare.map((x) => x.toFixed(2)).join(' ')],
        ['s3rver behind the SigV4 gate', g, times.gated.map((x) => x.toFixed(2)).join(' ')],
      ]) +
      `\ngate / bare: ${(g / b).toFixed(2)}x\n`,
  )
  await stopS3(gated)
  await stopS3(bare)
}

try {
  await main()
} finally {
  rmSync(base, { recursive: true, force: true })
}
