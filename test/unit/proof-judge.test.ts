/** The proof's verdict: equal over nothing is no proof (found against the twin, whose database held no table). */
import { describe, expect, it } from 'vitest'
import { judgeProof, type ProofBase, type ProofMeasure } from '../../runbooks/lib/ops/verify/proof.ts'

const base = { backup: { label: 'F1', type: 'full', repo: 1 } } as ProofBase
const clean: ProofMeasure['structure'] = {
  amcheck: [],
  foreignKeys: [],
  sequences: [],
  checksums: [],
} as unknown as ProofMeasure['structure']
const measure = (over: Partial<ProofMeasure>): ProofMeasure => ({
  reference: { node: 'hot', lsn: '0/A000000' } as ProofMeasure['reference'],
  reached: '0/A000000',
  tables: 3,
  rows: 10,
  digest: 'd',
  differences: [],
  structure: clean,
  timings: {},
  ...over,
})

describe('judgeProof', () => {
  it('equal at the reference LSN with tables: proven', () => {
    expect(judgeProof(measure({}), base)).toBeUndefined()
  })
  it('equal at the reference LSN but no table on either side: not proven', () => {
    expect(judgeProof(measure({ tables: 0, rows: 0 }), base)).toMatch(
      /neither it nor hot holds a table: nothing was compared/,
    )
  })
  it('no reference and no table: not proven', () => {
    expect(judgeProof(measure({ reference: null, tables: 0 }), base)).toMatch(/holds no table/)
  })
})
