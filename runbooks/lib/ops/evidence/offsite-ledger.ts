/**
 * The evidence ledger's offsite copy: one object per record (evidence/000001-<sha>.json) in the
 * offsite bucket, written once and never rewritten (object-locked in the cloud stacks), so a
 * ledger rewritten locally, even with its hash chain recomputed, no longer matches it.
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ObjectStore } from '../../adapters/object-store.ts'

export const LEDGER_PREFIX = 'evidence/'

const keyFor = (index: number, line: string) =>
  `${LEDGER_PREFIX}${String(index + 1).padStart(6, '0')}-${createHash('sha256').update(line).digest('hex').slice(0, 16)}.json`

/** Put every local record the bucket lacks; the number put. */
export async function syncLedgerOffsite(store: ObjectStore, lines: string[]): Promise<number> {
  const have = new Set((await store.list(LEDGER_PREFIX)).map((o) => o.key))
  let put = 0
  for (const [i, line] of lines.entries()) {
    const key = keyFor(i, line)
    if (have.has(key)) continue
    const body = Buffer.from(line)
    await store.put(key, Readable.from([body]), body.length, createHash('md5').update(body).digest('base64'))
    put++
  }
  return put
}

/** Where the local ledger departs from its offsite copy (a record altered, removed or reordered), if anywhere. */
export async function compareWithOffsite(
  store: ObjectStore,
  lines: string[],
): Promise<{ offsite: number; departs?: string }> {
  const offsite = (await store.list(LEDGER_PREFIX)).map((o) => o.key).sort()
  for (const key of offsite) {
    const index = Number(key.slice(LEDGER_PREFIX.length, LEDGER_PREFIX.length + 6)) - 1
    const line = lines[index]
    if (line === undefined)
      return { offsite: offsite.length, departs: `record ${index + 1} is offsite but missing from the local ledger` }
    if (keyFor(index, line) !== key)
      return { offsite: offsite.length, departs: `record ${index + 1} differs from its offsite copy (${key})` }
  }
  return { offsite: offsite.length }
}
