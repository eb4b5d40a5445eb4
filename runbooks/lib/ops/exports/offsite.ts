/**
 * Logical exports offsite: each file of an export sealed (AES-256-GCM, key from the offsite
 * cipher pass) under exports/<label>/ in the offsite bucket, read back and checked against the
 * export's SHA-256 sums before the upload counts, and expired by the policy's retention.
 */
import { createReadStream, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join, relative } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { ObjectStore } from '../../adapters/object-store.ts'
import { sealedLength, Sealer } from './sealed.ts'
import type { LocalSitePort } from '../../sites/local-port.ts'
import { walkFiles } from '../../adapters/process.ts'
import { labelTime, withElapsed } from './logical-export.ts'

export interface Offsite {
  store: ObjectStore
  sealer: Sealer
}

/** The local site's offsite bucket (repo2's S3 endpoint) and the sealer for what we store there ourselves. */
export function localOffsite(site: LocalSitePort): Offsite {
  site.requireCipherPass()
  const kv = site.secrets() // the pass may come from the environment alone
  const env = process.env
  const store = site.offsite.store(env)
  return { store, sealer: new Sealer(env.PGBACKREST_REPO2_CIPHER_PASS ?? kv['repo2-cipher-pass']!) }
}

export const EXPORTS_PREFIX = 'exports/'

const keyOf = (label: string, path: string) => `${EXPORTS_PREFIX}${label}/${path}`

function sealedFile(o: Offsite, file: string, salt: Buffer, iv: Buffer) {
  const sealed = o.sealer.seal(salt, iv)
  return createReadStream(file)
    .on('error', (e) => sealed.destroy(e))
    .pipe(sealed)
}

/** Seal and upload every file of a finished local export; returns the bytes stored. */
export async function uploadExport(o: Offsite, dir: string, label: string): Promise<number> {
  const salt = o.sealer.newSalt()
  let stored = 0
  // the sums and the manifest go last: an export offsite without its manifest is visibly incomplete
  const last = ['SHA256SUMS', 'manifest.json']
  const files = [
    ...walkFiles(dir)
      .map((f) => relative(dir, f))
      .filter((f) => !last.includes(f)),
    ...last,
  ]
  for (const f of files) {
    const length = sealedLength(statSync(join(dir, f)).size)
    // sealed twice with the same iv: once for the Content-MD5 that Object Lock buckets require
    const iv = o.sealer.newIv()
    const md5 = createHash('md5')
    for await (const chunk of sealedFile(o, join(dir, f), salt, iv)) md5.update(chunk as Buffer)
    await o.store.put(keyOf(label, f), sealedFile(o, join(dir, f), salt, iv), length, md5.digest('base64'))
    stored += length
  }
  return stored
}

async function openedSha256(o: Offsite, key: string): Promise<{ sha256: string; bytes: Buffer | null }> {
  const h = createHash('sha256')
  const keep: Buffer[] = []
  const small = key.endsWith('manifest.json')
  await pipeline(
    await o.store.get(key),
    o.sealer.open(),
    new Writable({
      write(chunk: Buffer, _e, done) {
        h.update(chunk)
        if (small) keep.push(chunk)
        done()
      },
    }),
  )
  return { sha256: h.digest('hex'), bytes: small ? Buffer.concat(keep) : null }
}

/** Read an offsite export back: every file opens (authenticated) and matches the manifest's SHA-256. */
export async function verifyOffsiteExport(
  o: Offsite,
  label: string,
): Promise<{ ok: boolean; bad: string[]; files: number }> {
  const objects = new Set((await o.store.list(`${EXPORTS_PREFIX}${label}/`)).map((x) => x.key))
  if (!objects.has(keyOf(label, 'manifest.json'))) return { ok: false, bad: ['manifest.json (missing)'], files: 0 }
  let manifest: { files: { path: string; sha256: string }[] }
  try {
    manifest = JSON.parse((await openedSha256(o, keyOf(label, 'manifest.json'))).bytes!.toString('utf8'))
  } catch (e) {
    return { ok: false, bad: [`manifest.json (${(e as Error).message})`], files: 0 }
  }
  const bad: string[] = []
  for (const f of manifest.files) {
    if (!objects.has(keyOf(label, f.path))) {
      bad.push(`${f.path} (missing)`)
      continue
    }
    try {
      if ((await openedSha256(o, keyOf(label, f.path))).sha256 !== f.sha256) bad.push(`${f.path} (SHA-256 differs)`)
    } catch (e) {
      bad.push(`${f.path} (${(e as Error).message})`)
    }
  }
  return { ok: bad.length === 0, bad, files: manifest.files.length }
}

/** Delete offsite exports older than the retention (never `keep`, never an unparseable label). */
export async function expireOffsiteExports(
  o: Offsite,
  retentionMs: number,
  keep: string,
  now = Date.now(),
): Promise<string[]> {
  const objects = await o.store.list(EXPORTS_PREFIX)
  const labels = new Set(objects.map((x) => x.key.slice(EXPORTS_PREFIX.length).split('/')[0]!))
  const gone = [...labels].filter((label) => {
    const t = labelTime(label)
    return label !== keep && t !== undefined && now - t > retentionMs
  })
  for (const x of objects)
    if (gone.some((label) => x.key.startsWith(`${EXPORTS_PREFIX}${label}/`))) await o.store.delete(x.key)
  return gone
}

/**
 * Upload an export, read it back, and (given a retention) expire older ones; throws when the
 * copy does not verify. `retentionMs` undefined: the bucket's lifecycle expires them instead.
 */
export async function shipExport(
  o: Offsite,
  dir: string,
  label: string,
  retentionMs?: number,
): Promise<{ stored: number; files: number; expired: string[]; seconds: number; location: string }> {
  const t0 = Date.now()
  const stored = await withElapsed(`sealing and uploading ${label} to ${o.store.describe()}`, () =>
    uploadExport(o, dir, label),
  )
  const v = await withElapsed(`reading ${label} back from ${o.store.describe()}`, () => verifyOffsiteExport(o, label))
  if (!v.ok) throw new Error(`the copy of ${label} in ${o.store.describe()} does not verify: ${v.bad.join(', ')}`)
  const expired = retentionMs === undefined ? [] : await expireOffsiteExports(o, retentionMs, label)
  return {
    stored,
    files: v.files,
    expired,
    seconds: (Date.now() - t0) / 1000,
    location: o.store.describe(`${EXPORTS_PREFIX}${label}/`),
  }
}
