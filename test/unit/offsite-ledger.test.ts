/**
 * A ledger's offsite copy: a local record missing offsite is a deletion there once a later record
 * is offsite, or once it is older than the copy's grace; the newest record may wait for its copy.
 * And the audit log's anchors: a cut or edited tail departs from them.
 */
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  compareWithOffsite,
  OFFSITE_COPY_GRACE_MS,
  syncLedgerOffsite,
} from '../../runbooks/lib/ops/evidence/offsite-ledger.ts'
import type { ObjectStore } from '../../runbooks/lib/adapters/object-store.ts'
import { anchorProblem } from '../../runbooks/lib/sites/local/audit-anchor.ts'

/** The part of the S3 client a ledger uses, in memory. */
function memoryStore(): ObjectStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>()
  return {
    objects,
    async list(prefix: string) {
      return [...objects.keys()].filter((k) => k.startsWith(prefix)).map((key) => ({ key, size: 0, lastModified: 0 }))
    },
    async put(key: string, body: Readable) {
      const chunks: Buffer[] = []
      for await (const c of body) chunks.push(c as Buffer)
      objects.set(key, Buffer.concat(chunks))
    },
    async delete(key: string) {
      objects.delete(key)
    },
  } as unknown as ObjectStore & { objects: Map<string, Buffer> }
}

const NOW = Date.parse('2026-12-07T12:00:00Z')
const record = (n: number, minutesAgo: number) =>
  JSON.stringify({ kind: 'proof', n, at: new Date(NOW - minutesAgo * 60_000).toISOString() })

describe('compareWithOffsite', () => {
  it('holds when every record is offsite', async () => {
    const store = memoryStore()
    const lines = [record(1, 60), record(2, 30), record(3, 1)]
    await syncLedgerOffsite(store, lines)
    expect(await compareWithOffsite(store, lines, undefined, NOW)).toEqual({ offsite: 3 })
  })

  it('a record missing offsite before one that is there was deleted there', async () => {
    const store = memoryStore()
    const lines = [record(1, 60), record(2, 30), record(3, 1)]
    await syncLedgerOffsite(store, lines)
    store.objects.delete([...store.objects.keys()].sort()[1]!)
    expect((await compareWithOffsite(store, lines, undefined, NOW)).departs).toMatch(
      /record 2 is missing from the offsite copy, which holds record 3: deleted there/,
    )
  })

  it('the newest record may wait for its copy within the grace, not after it', async () => {
    const store = memoryStore()
    const lines = [record(1, 60), record(2, 30)]
    await syncLedgerOffsite(store, lines.slice(0, 1))
    const young = [...lines.slice(0, 1), record(2, OFFSITE_COPY_GRACE_MS / 60_000 - 1)]
    expect((await compareWithOffsite(store, young, undefined, NOW)).departs).toBeUndefined()
    expect((await compareWithOffsite(store, lines, undefined, NOW)).departs).toMatch(
      /record 2 \(written .*\) is not offsite 10 min after it was written/,
    )
  })
})

describe('anchorProblem', () => {
  const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32)
  const lines = ['a', 'b', 'c', 'd', 'e']
  const anchors = [
    { entries: 3, head: sha('c') },
    { entries: 5, head: sha('e') },
  ]
  it('holds for the log as anchored, and for lines appended since', () => {
    expect(anchorProblem(lines, anchors)).toBeUndefined()
    expect(anchorProblem([...lines, 'f'], anchors)).toBeUndefined()
  })
  it('names a cut tail and an edited head', () => {
    expect(anchorProblem(lines.slice(0, 2), anchors)).toMatch(/the log has 2 line\(s\), but 5 were anchored/)
    expect(anchorProblem(['a', 'b', 'c', 'd', 'E'], anchors)).toMatch(/line 5 is not the line anchored offsite/)
  })
})
