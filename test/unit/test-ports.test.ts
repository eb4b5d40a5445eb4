import { describe, expect, it } from 'vitest'
import { TEST_PORTS } from '../helpers/ports.ts'

describe("the test files' port ranges", () => {
  it('never overlap: each file owns base .. base+99', () => {
    const bases = Object.entries(TEST_PORTS).sort((a, b) => a[1] - b[1])
    const clashes = bases.slice(1).filter(([, base], i) => base - bases[i]![1] < 100)
    expect(clashes.map(([file]) => file)).toEqual([])
  })
})
