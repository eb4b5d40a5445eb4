/**
 * The cloud erasure ledger's rules over two vaults: copies that agree (one may be behind), a
 * copy that departs or a broken chain refused, no vault read refused, a record written to the
 * vaults that take it. The vaults here are in-memory buckets listing keys in order, as S3's
 * ListObjectsV2 does; the real S3 path runs in twin-restore.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { Readable } from 'node:stream'
import type { ObjectStore } from '../../runbooks/lib/adapters/object-store.ts'
import { syncLedgerOffsite } from '../../runbooks/lib/ops/evidence/offsite-ledger.ts'
import {
  CLOUD_ERASURES,
  appendCloudErasure,
  readCloudLedger,
  type LedgerVault,
} from '../../runbooks/lib/ops/erasure/cloud-ledger.ts'
import type { ErasureRecord } from '../../runbooks/lib/ops/erasure/erasure.ts'

function bucket(name: string): LedgerVault & { objects: Map<string, Buffer>; down: boolean } {
  const objects = new Map<string, Buffer>()
  const v = { name, objects, down: false } as LedgerVault & { objects: Map<string, Buffer>; down: boolean }
  const reachable = () => {
    if (v.down) throw new Error('connect ETIMEDOUT')
  }
  v.store = {
    list: async (prefix: string) => {
      reachable()
      return [...objects.keys()]
        .filter((k) => k.startsWith(prefix))
        .sort()
        .map((key) => ({ key, size: objects.get(key)!.length, lastModified: 0 }))
    },
    get: async (key: string) => {
      reachable()
      return Readable.from([objects.get(key)!])
    },
    put: async (key: string, body: Readable) => {
      reachable()
      const chunks: Buffer[] = []
      for await (const c of body) chunks.push(c as Buffer)
      objects.set(key, Buffer.concat(chunks))
    },
    close: () => {},
  } as unknown as ObjectStore
  return v
}

const record = (user: number): ErasureRecord => ({
  kind: 'erasure',
  at: '2026-12-08T00:00:00.000Z',
  user,
  rows: { users: 1 },
})

async function erase(vaults: LedgerVault[], user: number): Promise<string> {
  return appendCloudErasure(vaults, await readCloudLedger(vaults), record(user))
}

describe('the cloud erasure ledger', () => {
  it('writes each record to every vault, chained; reads them back in order', async () => {
    const [a, b] = [bucket('repo1'), bucket('repo2')]
    a.objects.set('erasures/000001-0123456789abcdef.sealed', Buffer.from('another ledger under the same prefix'))
    expect(await erase([a, b], 7)).toBe('recorded in repo1 and repo2')
    await erase([a, b], 8)
    const l = await readCloudLedger([a, b])
    expect(l.records.map((r) => r.user)).toEqual([7, 8])
    expect(JSON.parse(l.lines[1]!).prev).toMatch(/^[0-9a-f]{64}$/)
    expect([...a.objects.keys()].filter((k) => k.endsWith('.json'))).toEqual([...b.objects.keys()])
    expect(l.notes).toEqual([])
  })

  it('a vault down: the record goes to the other, the read says which is behind, the next erasure catches it up', async () => {
    const [a, b] = [bucket('repo1'), bucket('repo2')]
    await erase([a, b], 7)
    b.down = true
    expect(await erase([a, b], 8)).toMatch(/^recorded in repo1; not in repo2: connect ETIMEDOUT/)
    expect((await readCloudLedger([a, b])).notes).toEqual(['repo2 could not be read (connect ETIMEDOUT)'])
    b.down = false
    expect((await readCloudLedger([a, b])).notes).toEqual([
      'repo2 lacks the newest 1 record(s): the next erasure copies them',
    ])
    await erase([a, b], 9)
    expect(b.objects.size).toBe(3)
  })

  it('refuses copies that depart, a chain that breaks, and no copy at all', async () => {
    const [a, b] = [bucket('repo1'), bucket('repo2')]
    await erase([a, b], 7)
    await erase([a, b], 8)
    const [k1, k2] = [...b.objects.keys()]
    // an altered record: its key's hash no longer matches
    const original = b.objects.get(k1!)!
    b.objects.set(k1!, Buffer.from(original.toString().replace('"user":7', '"user":9')))
    await expect(readCloudLedger([a, b])).rejects.toThrow(/cannot be trusted: repo2: .*does not match/)
    b.objects.set(k1!, original)
    // a record removed from between others
    const second = b.objects.get(k2!)!
    b.objects.delete(k1!)
    await expect(readCloudLedger([a, b])).rejects.toThrow(/cannot be trusted: repo2: .*lacks record 1/)
    b.objects.set(k1!, original)
    expect(b.objects.get(k2!)).toBe(second)
    // a record rewritten in both vaults with a consistent key, but outside the chain
    const forged = JSON.stringify({ ...record(9), prev: '0'.repeat(64) })
    for (const v of [a, b]) {
      v.objects.delete(k2!)
      await syncLedgerOffsite(v.store, [original.toString(), forged], CLOUD_ERASURES)
    }
    await expect(readCloudLedger([a, b])).rejects.toThrow(/cannot be trusted: line 2 does not follow line 1/)
    // a fork: two erasures raced, each vault holds a valid record 2 of its own
    const [c, d] = [bucket('repo1'), bucket('repo2')]
    await erase([c, d], 7)
    const one = await readCloudLedger([c, d])
    await appendCloudErasure([c], one, record(8))
    await appendCloudErasure([d], one, record(9))
    await expect(readCloudLedger([c, d])).rejects.toThrow(
      /cannot be trusted: record 2 differs between repo\d and repo\d/,
    )
    a.down = b.down = true
    await expect(readCloudLedger([a, b])).rejects.toThrow(
      /could not be read from any vault.*nothing restored may serve/,
    )
    await expect(erase([a, b], 10)).rejects.toThrow(/could not be read from any vault/)
  })
})
