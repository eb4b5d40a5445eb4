/** The drill levels and the verdict per measure and per objective (pure). */
import { describe, expect, it } from 'vitest'
import { drillPlan, drillVerdict, type RecoveryMeasure } from '../../core/drill.ts'
import { loadPolicy } from '../../config/project-files.ts'

const policy = loadPolicy(new URL('../../', import.meta.url).pathname, 'local')

describe('drillPlan', () => {
  it("follows the guide's levels and each site's testing frequency in the policy", () => {
    expect(drillPlan(policy, 'monthly')).toMatchObject({ sites: ['hot'], communication: false, compliance: false })
    expect(drillPlan(policy, 'quarterly')).toMatchObject({
      sites: ['hot', 'warm'],
      communication: true,
      compliance: false,
    })
    expect(drillPlan(policy, 'annual')).toMatchObject({
      sites: ['hot', 'warm', 'cold'],
      communication: true,
      compliance: true,
    })
  })

  it('a site tested more often in the policy joins the lower levels', () => {
    const p = structuredClone(policy)
    p.sites.cold.testing = 'monthly'
    p.sites.hot.testing = 'never'
    expect(drillPlan(p, 'monthly').sites).toEqual(['cold'])
  })
})

const measure = (m: Partial<RecoveryMeasure>): RecoveryMeasure => ({
  what: 'PITR',
  against: { kind: 'tiers' },
  rtoSeconds: 2,
  rpoSeconds: 0,
  lostCommits: 0,
  ...m,
})

describe('drillVerdict', () => {
  it('a whole-database restore answers to every tier; a site test to its site', () => {
    const v = drillVerdict(
      policy,
      [],
      [measure({}), measure({ what: 'warm', against: { kind: 'site', site: 'warm' } })],
    )
    expect(v.ok).toBe(true)
    expect(v.objectives.map((o) => o.name)).toEqual([
      'tier 1 (critical)',
      'tier 2 (important)',
      'tier 3 (standard)',
      'warm site',
    ])
    expect(v.lines.filter((l) => l.startsWith('PASS tier'))).toHaveLength(3)
  })

  it('a miss fails only the objectives it misses, with the numbers', () => {
    // 2 h: over tier 1 (1 h), inside tier 2 (4 h) and tier 3 (24 h)
    const v = drillVerdict(policy, [], [measure({ rtoSeconds: 7200 })])
    expect(v.ok).toBe(false)
    expect(v.objectives.map((o) => o.ok)).toEqual([false, true, true])
    expect(v.lines.join('\n')).toMatch(/FAIL tier 1 \(critical\): RTO 60 min, worst 2 h/)
  })

  it('acknowledged commits lost with no announced window fail; a failed step or nothing measured fails', () => {
    expect(drillVerdict(policy, [], [measure({ lostCommits: 1 })]).ok).toBe(false)
    expect(drillVerdict(policy, [], [measure({ lostCommits: 3, rpoSeconds: 5 })]).ok).toBe(true)
    expect(drillVerdict(policy, [{ name: 's', seconds: 1, ok: false, detail: 'x' }], [measure({})]).ok).toBe(false)
    expect(drillVerdict(policy, [], []).ok).toBe(false)
    expect(drillVerdict(policy, [], [measure({ rtoSeconds: NaN })]).ok).toBe(false)
  })
})
