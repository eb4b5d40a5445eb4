/** Human sign-offs: what is due is computed from the last sign-off and the guide's cadence. */
import { describe, expect, it } from 'vitest'
import { signoffsDue, SIGNOFF_NAMES } from '../../core/signoffs.ts'

describe('signoffsDue', () => {
  const now = new Date('2026-11-27T12:00:00Z')

  it('never signed: due now (overdue), for every item of the guide', () => {
    const due = signoffsDue([], now)
    expect(due.map((d) => d.item)).toEqual(SIGNOFF_NAMES)
    expect(due.every((d) => d.overdue && d.last === null && d.due === null)).toBe(true)
  })

  it('the last sign-off counts, and the cadence gives the next date', () => {
    const due = signoffsDue(
      [
        { item: 'training', by: 'A', at: '2026-06-01T00:00:00Z' },
        { item: 'training', by: 'B', at: '2026-10-01T00:00:00Z' },
        { item: 'plan-review', by: 'C', at: '2025-11-01T00:00:00Z' },
      ],
      now,
    )
    const by = Object.fromEntries(due.map((d) => [d.item, d]))
    expect(by.training).toMatchObject({ overdue: false, due: '2027-01-01T00:00:00.000Z', last: { by: 'B' } })
    expect(by['plan-review']).toMatchObject({ overdue: true, due: '2026-11-01T00:00:00.000Z' })
  })
})
