/** The cloud --watch decision table: one vantage point never promotes alone. */
import { describe, expect, it } from 'vitest'
import { cloudWatchDecision } from '../../core/cloud-watch.ts'

const f = (failures: number, state: 'down' | 'up' | 'unknown') => ({
  consecutiveFailures: failures,
  threshold: 3,
  observer: { state, detail: `alarm x: ${state}` },
})

describe('cloudWatchDecision', () => {
  it.each([
    [0, 'down', false, /primary answered/],
    [2, 'down', false, /2 of 3/],
    [3, 'down', true, /agrees it is down/],
    [5, 'down', true, /agrees/],
    [3, 'up', false, /partition .* no failover/],
    [3, 'unknown', false, /no automatic failover on one vantage point/],
  ] as const)('%i failures, observer %s -> act %s', (n, state, act, why) => {
    const d = cloudWatchDecision(f(n, state))
    expect(d.act).toBe(act)
    expect(d.reason).toMatch(why)
  })
})
