import { describe, expect, it } from 'vitest'
import {
  dryRunReport,
  outcomeOf,
  renderFailover,
  type FailoverReport,
} from '../../runbooks/lib/ops/failover/outcome.ts'

const local: FailoverReport = {
  mode: 'failover',
  decision: 'primary node1 failed 3 consecutive probes',
  from: 'node1',
  to: 'node2',
  lossWindowSeconds: 0,
  lossBasis: 'synchronous: node2 acknowledged every commit',
  timings: { detectSeconds: 1.5, fenceSeconds: 0.2, promoteSeconds: 0.4, switchSeconds: 0.1, rtoSeconds: 2.2 },
  plan: ['1. fence'],
  fence: 'the endpoint routed away first, then stopped if it ran, marked fenced',
  next: 'rejoin node1 as a standby: npx zx runbooks/failback.ts',
  notified: [{ recipient: 'oncall', ok: false, status: 503 }],
}

describe('one failover report, local or cloud', () => {
  it('prints the steps a procedure timed, the fence and what is next', () => {
    const out = renderFailover(local, false)
    expect(out).toContain('failover node1 -> node2 done')
    expect(out).toContain('RTO 2.2 s (detect 1.5 s, fence 200 ms, promote 400 ms, switch+verify 100 ms)')
    expect(out).toContain('old primary: the endpoint routed away first')
    expect(out).toContain('notified: oncall FAILED (503)')
    expect(out).toContain('next: rejoin node1 as a standby: npx zx runbooks/failback.ts')
  })

  it('a cloud report names its stack and DNS change, and times only what it measured', () => {
    const cloud = { ...local, from: 'primary', to: 'hot', timings: { rtoSeconds: 40 }, dnsChange: '/change/C1' }
    const out = renderFailover(cloud, false, 'prod')
    expect(out).toContain('failover of stack prod primary -> hot done')
    expect(out).toMatch(/RTO 40(\.0)? s, DNS change \/change\/C1\n/)
    expect(out).not.toContain('detect')
  })

  it('a dry run prints the plan and says nothing changed; the communication plan hears the same numbers', () => {
    const dry = dryRunReport('dry run', 'primary', 'hot', ['1. detect', '2. fence'])
    expect(renderFailover(dry, true, 'prod')).toBe(
      'failover plan for stack prod:\n  1. detect\n  2. fence\n(dry run: nothing was changed)\n',
    )
    expect(outcomeOf(local)).toEqual({
      mode: 'failover',
      from: 'node1',
      to: 'node2',
      rtoSeconds: 2.2,
      lossWindowSeconds: 0,
      lossBasis: local.lossBasis,
      next: local.next,
    })
  })
})
