/** The comparison a proof rests on: which tables differ, and the first differing rows by key. */
import { describe, expect, it } from 'vitest'
import {
  blockRanges,
  differingTables,
  digestOf,
  firstDifferences,
  type Fingerprint,
} from '../../runbooks/lib/ops/verify/fingerprint.ts'

const fp = (tables: [string, number, string][]): Fingerprint => {
  const t = tables.map(([table, rows, sum]) => ({ table, rows, sum }))
  return { tables: t, digest: digestOf(t) }
}

describe('differingTables', () => {
  it('finds nothing when every table matches, whatever the order they were read in', () => {
    const a = fp([
      ['public.users', 3, '10'],
      ['public.courses', 1, '5'],
    ])
    const b = fp([
      ['public.courses', 1, '5'],
      ['public.users', 3, '10'],
    ])
    expect(differingTables(a, b)).toEqual([])
  })

  it('names a table a commit short (one row fewer), one with a changed row (same count), and one missing', () => {
    const ref = fp([
      ['public.a', 3, '10'],
      ['public.b', 2, '7'],
      ['public.c', 1, '1'],
    ])
    const restored = fp([
      ['public.a', 2, '4'],
      ['public.b', 2, '8'],
    ])
    expect(differingTables(ref, restored).sort()).toEqual(['public.a', 'public.b', 'public.c'])
  })
})

describe('firstDifferences', () => {
  it('names missing, changed and extra rows by key', () => {
    const ref = new Map([
      ['(1)', 'h1'],
      ['(2)', 'h2'],
      ['(3)', 'h3'],
    ])
    const restored = new Map([
      ['(1)', 'h1'],
      ['(2)', 'hX'],
      ['(4)', 'h4'],
    ])
    expect(firstDifferences(ref, restored)).toEqual([
      '(2): different values',
      '(3): missing from the restore',
      '(4): only in the restore',
    ])
    expect(firstDifferences(ref, ref)).toEqual([])
  })
})

describe('blockRanges', () => {
  it('reads a small table whole, and splits a big one into TID ranges that cover every block, the last open-ended', () => {
    expect(blockRanges(100, 2)).toEqual([''])
    expect(blockRanges(5000, 1)).toEqual([''])
    expect(blockRanges(5000, 2)).toEqual([
      " WHERE ctid >= '(0,0)'::tid AND ctid < '(2500,0)'::tid",
      " WHERE ctid >= '(2500,0)'::tid",
    ])
  })
})
