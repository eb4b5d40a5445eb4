/**
 * A ledger's offsite copy: one object per record (<prefix>000001-<sha>.<ext>) in the offsite
 * bucket, written once and never rewritten (object-locked in the cloud stacks), so a ledger
 * rewritten locally, even with its hash chain recomputed, no longer matches it. The key carries
 * the record's hash: comparing needs no download. Used by the evidence ledger (records as they
 * are) and the erasure ledger (records sealed).
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ObjectStore } from '../../adapters/object-store.ts'

export interface OffsiteLedger {
  prefix: string
  ext: string
  /** what is stored for a record (default: the record itself) */
  encode?: (line: string) => Promise<Buffer>
  /** the record from what is stored (default: the stored bytes as text) */
  decode?: (body: Buffer) => Promise<string>
}

export const EVIDENCE_OFFSITE: OffsiteLedger = { prefix: 'evidence/', ext: '.json' }

const keyFor = (l: OffsiteLedger, index: number, line: string) =>
  `${l.prefix}${String(index + 1).padStart(6, '0')}-${createHash('sha256').update(line).digest('hex').slice(0, 16)}${l.ext}`

/** The ledger's keys, in order: its prefix and its extension (another ledger may share the prefix). */
const ledgerKeys = async (store: ObjectStore, l: OffsiteLedger) =>
  (await store.list(l.prefix))
    .map((o) => o.key)
    .filter((k) => k.endsWith(l.ext))
    .sort()

/** The record number (from 1) a key names. */
const numberOf = (l: OffsiteLedger, key: string) => Number(key.slice(l.prefix.length, l.prefix.length + 6))

/**
 * The records held offsite, in order, each checked against the hash its key carries; throws when
 * one is missing between others or does not match its key (the copy itself was tampered with).
 */
export async function readOffsiteLedger(store: ObjectStore, l: OffsiteLedger = EVIDENCE_OFFSITE): Promise<string[]> {
  const keys = await ledgerKeys(store, l)
  const lines: string[] = []
  for (const [i, key] of keys.entries()) {
    if (numberOf(l, key) !== i + 1) throw new Error(`the offsite copy lacks record ${i + 1} (next: ${key})`)
    const chunks: Buffer[] = []
    for await (const c of await store.get(key)) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const line = l.decode ? await l.decode(body) : body.toString('utf8')
    if (keyFor(l, i, line) !== key) throw new Error(`offsite record ${key} does not match the hash its key carries`)
    lines.push(line)
  }
  return lines
}

/** Put every local record the bucket lacks; the number put. */
export async function syncLedgerOffsite(
  store: ObjectStore,
  lines: string[],
  l: OffsiteLedger = EVIDENCE_OFFSITE,
): Promise<number> {
  const have = new Set(await ledgerKeys(store, l))
  let put = 0
  for (const [i, line] of lines.entries()) {
    const key = keyFor(l, i, line)
    if (have.has(key)) continue
    const body = l.encode ? await l.encode(line) : Buffer.from(line)
    await store.put(key, Readable.from([body]), body.length, createHash('md5').update(body).digest('base64'))
    put++
  }
  return put
}

/**
 * How long a new record may be missing offsite: it is copied when written and, if the store is
 * down then, with the next record. Past this, a local record without its offsite copy was deleted
 * there (or the store has been down since), and the ledger no longer proves itself.
 */
export const OFFSITE_COPY_GRACE_MS = 10 * 60 * 1000

/** When a record was written (its `at`), for the grace above; undefined when it does not say. */
function writtenAt(line: string): number | undefined {
  try {
    const at = (JSON.parse(line) as { at?: unknown }).at
    return typeof at === 'string' ? Date.parse(at) : undefined
  } catch {
    return undefined
  }
}

/**
 * Where the local ledger departs from its offsite copy, if anywhere: a record altered, removed or
 * reordered on either side. A local record missing offsite is a departure when a later record is
 * there (the copy of every record before it was put first), or once it is older than the grace.
 */
export async function compareWithOffsite(
  store: ObjectStore,
  lines: string[],
  l: OffsiteLedger = EVIDENCE_OFFSITE,
  now = Date.now(),
): Promise<{ offsite: number; departs?: string }> {
  const offsite = await ledgerKeys(store, l)
  const held = new Set<number>()
  for (const key of offsite) {
    const index = numberOf(l, key) - 1
    const line = lines[index]
    if (line === undefined)
      return { offsite: offsite.length, departs: `record ${index + 1} is offsite but missing from the local ledger` }
    if (keyFor(l, index, line) !== key)
      return { offsite: offsite.length, departs: `record ${index + 1} differs from its offsite copy (${key})` }
    held.add(index)
  }
  const last = Math.max(-1, ...held)
  for (const [index, line] of lines.entries()) {
    if (held.has(index)) continue
    if (index < last)
      return {
        offsite: offsite.length,
        departs: `record ${index + 1} is missing from the offsite copy, which holds record ${last + 1}: deleted there`,
      }
    const at = writtenAt(line)
    if (at === undefined || now - at > OFFSITE_COPY_GRACE_MS)
      return {
        offsite: offsite.length,
        departs: `record ${index + 1}${at === undefined ? '' : ` (written ${new Date(at).toISOString()})`} is not offsite ${OFFSITE_COPY_GRACE_MS / 60_000} min after it was written: deleted there, or the store has been unreachable since`,
      }
  }
  return { offsite: offsite.length }
}
