/**
 * The local offsite store lets in only requests signed with the site's key: s3rver alone lets
 * anyone list, put and delete (its authentication middleware passes unsigned requests and never
 * checks a V4 signature). Real clients — the runbooks' S3 client, restic, curl as another OS
 * user — are tried against the real server; pgBackRest through it is exercised by every site the
 * suite starts (stanza-create, archive-push and backups to repo2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { spawnSync } from 'node:child_process'
import {
  ensureCert,
  s3ServerPaths,
  startS3,
  stopS3,
  type S3ServerPaths,
} from '../../runbooks/lib/adapters/s3-server.ts'
import { ObjectStore } from '../../runbooks/lib/adapters/object-store.ts'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../runbooks/lib/adapters/process.ts'
import { verifySigV4 } from '../../runbooks/lib/adapters/sigv4-verify.ts'
import { portsOf } from '../helpers/ports.ts'

const PORT = portsOf('s3-gate')
const KEY = { accessKeyId: 'LDTESTKEY0001', secretAccessKey: 'site-secret-for-the-gate-test-0123456789' }
const BUCKET = 'labdojo-backups'
let base = ''
let paths: S3ServerPaths

const store = (key = KEY) =>
  new ObjectStore({
    endpoint: `https://127.0.0.1:${PORT}`,
    bucket: BUCKET,
    region: 'us-east-1',
    ...key,
    ca: readFileSync(paths.cert, 'utf8'),
  })

/** curl's HTTP status, run as another OS user (`nobody`), never signing. */
function curlAsNobody(method: string, path: string): string {
  const r = spawnSync(
    'runuser',
    [
      '-u',
      'nobody',
      '--',
      'curl',
      '-sk',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      method,
      `https://127.0.0.1:${PORT}${path}`,
    ],
    { encoding: 'utf8' },
  )
  return r.stdout
}

beforeAll(async () => {
  base = mkdtempSync('/var/tmp/labdojo-s3gate-')
  chmodSync(base, 0o755)
  const dir = join(base, 's3')
  mkdirForSiteUser(dir)
  paths = s3ServerPaths(dir)
  mkdirForSiteUser(paths.data)
  await ensureCert(run, paths)
  mkdirSync(join(base, 'secrets'), { mode: 0o700 })
  giveToSiteUser(join(base, 'secrets'))
  const secrets = join(base, 'secrets', 'pgbackrest-secrets.conf')
  writeFileSync(secrets, `[global]\nrepo2-s3-key=${KEY.accessKeyId}\nrepo2-s3-key-secret=${KEY.secretAccessKey}\n`, {
    mode: 0o600,
  })
  giveToSiteUser(secrets)
  await startS3(paths, PORT, BUCKET, secrets)
})

afterAll(async () => {
  if (paths) await stopS3(paths)
  if (base) rmSync(base, { recursive: true, force: true })
})

describe('the local offsite store (s3rver behind the signature gate)', () => {
  it('serves the site key: put, list, get, delete', async () => {
    const s = store()
    try {
      const body = Buffer.from('evidence record')
      await s.put('evidence/000001-x.json', Readable.from([body]), body.length)
      expect((await s.list('evidence/')).map((o) => o.key)).toEqual(['evidence/000001-x.json'])
      const got = await s.get('evidence/000001-x.json')
      let text = ''
      for await (const chunk of got) text += chunk
      expect(text).toBe('evidence record')
      await s.delete('evidence/000001-x.json')
      expect(await s.list('evidence/')).toEqual([])
    } finally {
      s.close()
    }
  })

  it('lists past 1,000 keys (s3rver pages with DES continuation tokens: OpenSSL 3 legacy provider)', async () => {
    const s = store()
    try {
      const body = Buffer.from('x')
      for (let i = 0; i < 1005; i++) await s.put(`many/${String(i).padStart(5, '0')}`, Readable.from([body]), 1)
      expect((await s.list('many/')).length).toBe(1005)
      for (let i = 0; i < 1005; i++) await s.delete(`many/${String(i).padStart(5, '0')}`)
    } finally {
      s.close()
    }
  })

  it('refuses unsigned requests from another OS user: list, put and delete answer 403 and change nothing', async () => {
    const s = store()
    const body = Buffer.from('keep me')
    await s.put('exports/keep.txt', Readable.from([body]), body.length)
    try {
      expect(curlAsNobody('GET', `/${BUCKET}/`)).toBe('403')
      expect(curlAsNobody('PUT', `/${BUCKET}/exports/evil.txt`)).toBe('403')
      expect(curlAsNobody('DELETE', `/${BUCKET}/exports/keep.txt`)).toBe('403')
      expect(curlAsNobody('DELETE', `/${BUCKET}`)).toBe('403')
      expect((await s.list('exports/')).map((o) => o.key)).toEqual(['exports/keep.txt'])
    } finally {
      await s.delete('exports/keep.txt')
      s.close()
    }
  })

  it("refuses s3rver's public key, another key, and the site's key id with a wrong secret", async () => {
    for (const key of [
      { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      { accessKeyId: 'LDOTHERKEY', secretAccessKey: KEY.secretAccessKey },
      { accessKeyId: KEY.accessKeyId, secretAccessKey: 'not-the-secret' },
    ]) {
      const s = store(key)
      try {
        await expect(s.list('')).rejects.toThrow(/403|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch/)
        const body = Buffer.from('x')
        await expect(s.put('evil.txt', Readable.from([body]), 1)).rejects.toThrow(/403|InvalidAccessKeyId|Signature/)
      } finally {
        s.close()
      }
    }
    expect(readFileSync(paths.log, 'utf8')).toMatch(/refused GET .*InvalidAccessKeyId/)
  })

  it('restic works with the site key and is refused with another', async () => {
    const env = {
      ...process.env,
      RESTIC_PASSWORD: 'restic-test-password',
      AWS_ACCESS_KEY_ID: KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey,
    }
    const url = `s3:https://127.0.0.1:${PORT}/${BUCKET}/restic-test`
    const args = ['--cacert', paths.cert, '-r', url, '--no-cache']
    const init = spawnSync('restic', [...args, 'init'], { env, encoding: 'utf8' })
    expect(init.status, init.stderr).toBe(0)
    const snaps = spawnSync('restic', [...args, 'snapshots', '--json'], { env, encoding: 'utf8' })
    expect(snaps.status, snaps.stderr).toBe(0)
    const wrong = spawnSync('restic', [...args, 'snapshots', '--json'], {
      env: { ...env, AWS_SECRET_ACCESS_KEY: 'wrong' },
      encoding: 'utf8',
      timeout: 120_000,
    })
    expect(wrong.status).not.toBe(0)
    expect(wrong.stderr).toMatch(/SignatureDoesNotMatch|Access Denied|403|does not match/i)
  })
})

describe('verifySigV4', () => {
  const now = new Date('2026-12-07T02:00:00Z')
  const signed = async (secret = KEY.secretAccessKey, date = now) => {
    const { SignatureV4 } = await import('@smithy/signature-v4')
    const { Sha256 } = await import('@aws-crypto/sha256-js')
    const signer = new SignatureV4({
      credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: secret },
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    })
    const r = await signer.sign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: '127.0.0.1:9',
        path: '/labdojo-backups/',
        query: { 'list-type': '2', prefix: 'a b/c+d', delimiter: '/' },
        headers: { host: '127.0.0.1:9', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      },
      { signingDate: date },
    )
    return {
      method: 'GET',
      url: '/labdojo-backups/?list-type=2&prefix=a%20b%2Fc%2Bd&delimiter=%2F',
      headers: r.headers as Record<string, string>,
    }
  }

  it('accepts a request the AWS SDK signed with the key, query and all', async () => {
    expect(await verifySigV4(await signed(), KEY, now)).toEqual({ ok: true })
  })
  it('refuses a changed query, method or header, a wrong secret and a stale date', async () => {
    const req = await signed()
    expect(await verifySigV4({ ...req, url: req.url.replace('a%20b', 'zz') }, KEY, now)).toMatchObject({
      code: 'SignatureDoesNotMatch',
    })
    expect(await verifySigV4({ ...req, method: 'DELETE' }, KEY, now)).toMatchObject({ code: 'SignatureDoesNotMatch' })
    expect(
      await verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-content-sha256': 'e3b0' } }, KEY, now),
    ).toMatchObject({ code: 'SignatureDoesNotMatch' })
    expect(await verifySigV4(await signed('wrong'), KEY, now)).toMatchObject({ code: 'SignatureDoesNotMatch' })
    expect(await verifySigV4(await signed(undefined, new Date('2026-12-07T01:40:00Z')), KEY, now)).toMatchObject({
      code: 'RequestTimeTooSkewed',
    })
    expect(await verifySigV4({ method: 'GET', url: '/', headers: {} }, KEY, now)).toMatchObject({
      code: 'AccessDenied',
    })
  })
})
