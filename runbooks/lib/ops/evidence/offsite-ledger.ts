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
}

export const EVIDENCE_OFFSITE: OffsiteLedger = { prefix: 'evidence/', ext: '.json' }

const keyFor = (l: OffsiteLedger, index: number, line: string) =>
  `${l.prefix}${String(index + 1).padStart(6, '0')}-${createHash('sha256').update(line).digest('hex').slice(0, 16)}${l.ext}`

/** Put every local record the bucket lacks; the number put. */
export async function syncLedgerOffsite(
  store: ObjectStore,
  lines: string[],
  l: OffsiteLedger = EVIDENCE_OFFSITE,
): Promise<number> {
  const have = new Set((await store.list(l.prefix)).map((o) => o.key))
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

/** Where the local ledger departs from its offsite copy (a record altered, removed or reordered), if anywhere. */
export async function compareWithOffsite(
  store: ObjectStore,
  lines: string[],
  l: OffsiteLedger = EVIDENCE_OFFSITE,
): Promise<{ offsite: number; departs?: string }> {
  const offsite = (await store.list(l.prefix)).map((o) => o.key).sort()
  for (const key of offsite) {
    const index = Number(key.slice(l.prefix.length, l.prefix.length + 6)) - 1
    const line = lines[index]
    if (line === undefined)
      return { offsite: offsite.length, departs: `record ${index + 1} is offsite but missing from the local ledger` }
    if (keyFor(l, index, line) !== key)
      return { offsite: offsite.length, departs: `record ${index + 1} differs from its offsite copy (${key})` }
  }
  return { offsite: offsite.length }
}
