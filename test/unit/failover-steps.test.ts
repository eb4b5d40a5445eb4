import { describe, expect, it } from 'vitest'
import type { NodeStatus } from '../../runbooks/lib/adapters/postgres.ts'
import { detectFailures, type ProbeRound } from '../../runbooks/lib/ops/failover/detect.ts'
import { planLines } from '../../runbooks/lib/ops/failover/failover.ts'
import { newSiteState } from '../../runbooks/lib/sites/local/state.ts'

const fast = { probeInterval: 0.001, probeTimeout: 0.01, failureThreshold: 3 }
const node = (reachable: boolean): NodeStatus => ({
  name: 'node1',
  port: 1,
  reachable,
  inRecovery: reachable ? false : undefined,
})
/** A scripted probe sequence: true = the primary answered. */
function rounds(script: boolean[]) {
  let i = 0
  const round = async (): Promise<ProbeRound> => {
    const ok = script[Math.min(i++, script.length - 1)]!
    return { ok, direct: node(ok), endpoint: node(ok) }
  }
  return { round, calls: () => i }
}

describe('detection: one probe loop for a one-shot check and for --watch', () => {
  it('one-shot: returns at the first answer with no failures counted', async () => {
    const r = rounds([true])
    const d = await detectFailures(fast, r.round)
    expect(d).toMatchObject({ consecutiveFailures: 0, threshold: 3, firstFailureAt: null })
    expect(d.lastSeenAt).not.toBeNull()
    expect(r.calls()).toBe(1)
  })

  it('one-shot: N consecutive failures make a detection, timed from the first', async () => {
    const r = rounds([false, false, false])
    const d = await detectFailures(fast, r.round)
    expect(d.consecutiveFailures).toBe(3)
    expect(d.firstFailureAt).not.toBeNull()
    expect(d.lastSeenAt).toBeNull()
  })

  it('one-shot: an answer between failures ends the check (no detection)', async () => {
    const r = rounds([false, false, true, false])
    const d = await detectFailures(fast, r.round)
    expect(d.consecutiveFailures).toBe(0)
    expect(r.calls()).toBe(3)
  })

  it('watch: an answer resets the count; only N in a row detect, and the last answer is kept', async () => {
    const r = rounds([true, false, false, true, false, false, false])
    const d = await detectFailures(fast, r.round, { watch: true })
    expect(d.consecutiveFailures).toBe(3)
    expect(d.lastSeenAt).not.toBeNull()
    expect(r.calls()).toBe(7)
  })

  it('watch: a healthy primary until the deadline is no detection', async () => {
    const r = rounds([true])
    const d = await detectFailures(fast, r.round, { watch: true, until: Date.now() + 30 })
    expect(d.consecutiveFailures).toBe(0)
    expect(r.calls()).toBeGreaterThan(1)
  })
})

describe('the failover plan, as printed before anything happens', () => {
  const state = newSiteState(25400, 0.05)

  it('failover: fence the endpoint, stop and mark the old primary, promote, switch, verify, notify', () => {
    const lines = planLines(state, 'node2', 'failover', 25400)
    expect(lines).toEqual([
      '1. fence: route the endpoint 127.0.0.1:25400 nowhere, stop node1 if it still runs, mark it fenced',
      '2. (no catch-up possible from a dead primary)',
      '3. promote node2',
      '4. switch traffic: endpoint -> node2; verify a write through it',
      '5. notify along the communication plan; later: failback.ts rejoins node1',
    ])
  })

  it("switchover: a clean stop, then the candidate replays the old primary's shutdown checkpoint", () => {
    const lines = planLines(state, 'node2', 'switchover', 25400)
    expect(lines[0]).toBe('1. fence: route the endpoint 127.0.0.1:25400 nowhere, then stop node1 cleanly (fast)')
    expect(lines[1]).toBe("2. wait until node2 has replayed node1's shutdown checkpoint")
    expect(lines[4]).toMatch(/rejoin node1 as a standby$/)
  })
})
