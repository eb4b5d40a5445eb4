import { describe, expect, it } from 'vitest'
import { decideFailover, lossWindow, type FailoverFacts } from '../../core/failover.ts'
import { followedTimeline } from '../../runbooks/lib/adapters/postgres.ts'

const facts = (over: Partial<FailoverFacts> = {}, flags: Partial<FailoverFacts['flags']> = {}): FailoverFacts => ({
  primary: { name: 'node1', health: 'down', error: 'ECONNREFUSED' },
  candidate: {
    name: 'node2',
    health: 'up',
    inRecovery: true,
    systemId: '7441234567890123456',
    timeline: 1,
    streaming: true,
  },
  candidateSite: 'hot',
  candidateFailover: 'automatic',
  detection: { consecutiveFailures: 3, threshold: 3, firstFailureAt: 1000, lastSeenAt: 900 },
  stanzaSystemId: '7441234567890123456',
  lastKnownTimeline: 1,
  lossWindowSeconds: 0,
  lossBasis: 'synchronous',
  tierRpoSeconds: 900,
  ...over,
  flags: { acceptDataLoss: false, switchover: false, automatic: false, ...flags },
})

describe('the failover decision (guard clauses, in order)', () => {
  it('promotes a healthy synchronous hot standby after N consecutive failures', () => {
    const d = decideFailover(facts())
    expect(d).toMatchObject({ action: 'promote', mode: 'failover' })
    expect(d.reason).toMatch(
      /failing over to hot standby node2: primary node1 failed 3 consecutive probes; no data loss/,
    )
  })

  it.each([
    [
      'an unreachable candidate',
      facts({ candidate: { name: 'node2', health: 'down', error: 'timeout' } }),
      /candidate node2 is unreachable \(timeout\)/,
    ],
    [
      'a candidate that is already primary',
      facts({ candidate: { name: 'node2', health: 'up', inRecovery: false } }),
      /already a primary.*split brain/,
    ],
    [
      'a mismatched system identifier',
      facts({ candidate: { name: 'node2', health: 'up', inRecovery: true, systemId: '1', timeline: 1 } }),
      /system identifier 1, the backup stanza has 7441234567890123456/,
    ],
    [
      'a candidate on another timeline',
      facts({ candidate: { name: 'node2', health: 'up', inRecovery: true, timeline: 2 } }),
      /timeline 2, the primary was last on timeline 1/,
    ],
    [
      'a healthy primary without --switchover',
      facts({
        primary: { name: 'node1', health: 'up', inRecovery: false, timeline: 1 },
        detection: { consecutiveFailures: 0, threshold: 3, firstFailureAt: null, lastSeenAt: 1 },
      }),
      /primary node1 is healthy.*--switchover/,
    ],
    [
      'lag beyond the tier RPO',
      facts({ lossWindowSeconds: 2520, lossBasis: 'warm' }),
      /is 42 min behind \(warm\), tier-1 RPO is 15 min; pass --accept-data-loss/,
    ],
    [
      'an automatic failover to a manual site',
      facts({ candidateSite: 'warm', candidateFailover: 'manual' }, { automatic: true }),
      /warm site fails over manually by policy/,
    ],
    ['a switchover from a dead primary', facts({}, { switchover: true }), /switchover needs a healthy primary/],
  ])('refuses %s, in a sentence with the numbers', (_, f, msg) => {
    const d = decideFailover(f)
    expect(d.action).toBe('refuse')
    expect(d.reason).toMatch(msg)
  })

  it('waits on fewer failures than the threshold: one missed probe never triggers it', () => {
    const d = decideFailover(
      facts({
        primary: { name: 'node1', health: 'down' },
        detection: { consecutiveFailures: 1, threshold: 3, firstFailureAt: 1, lastSeenAt: 0 },
      }),
    )
    expect(d).toEqual({
      action: 'wait',
      reason: 'not failing over yet: primary node1 failed 1 of 3 consecutive probes',
    })
  })

  it('promotes beyond the RPO only with --accept-data-loss, and says so', () => {
    const d = decideFailover(facts({ lossWindowSeconds: 2520, lossBasis: 'warm' }, { acceptDataLoss: true }))
    expect(d.action).toBe('promote')
    expect(d.reason).toMatch(/beyond the 15 min RPO: accepted by --accept-data-loss/)
  })

  it('allows a planned switchover from a healthy primary to a streaming standby', () => {
    const d = decideFailover(
      facts(
        { primary: { name: 'node1', health: 'up', inRecovery: false, timeline: 1, systemId: '7441234567890123456' } },
        { switchover: true },
      ),
    )
    expect(d).toMatchObject({ action: 'promote', mode: 'switchover' })
  })

  it('allows a manual failover to the warm site when a person asks', () => {
    expect(
      decideFailover(facts({ candidateSite: 'warm', candidateFailover: 'manual', lossWindowSeconds: 40 })).action,
    ).toBe('promote')
  })
})

describe('the data-loss window', () => {
  const c = { name: 'node3', health: 'up' as const, inRecovery: true }
  it('is zero for a configured synchronous standby', () => {
    expect(lossWindow(c, { synchronous: true, lastSafeAt: null, primaryLastSeenAt: 5000, now: 9000 }).seconds).toBe(0)
  })
  it("runs from what the candidate safely holds to the primary's last answer", () => {
    expect(
      lossWindow(c, { synchronous: false, lastSafeAt: 10_000, primaryLastSeenAt: 70_000, now: 90_000 }).seconds,
    ).toBe(60)
  })
  it('is beyond any RPO when nothing can be dated', () => {
    expect(
      lossWindow(c, { synchronous: false, lastSafeAt: null, primaryLastSeenAt: null, now: 1 }).seconds,
    ).toBeGreaterThan(3600)
  })
})

describe('the timeline an archive-fed standby follows (from its server log)', () => {
  const boot = `LOG:  entering standby mode\nLOG:  restored log file "000000010000000000000003" from archive\nLOG:  consistent recovery state reached at 0/3000100\n`
  it('is the one it switched to, not the newest history file it fetched', () => {
    expect(followedTimeline(boot)).toBe(1)
    expect(
      followedTimeline(
        `${boot}LOG:  restored log file "00000002.history" from archive\nLOG:  new target timeline is 2\nLOG:  restored log file "000000010000000000000004" from archive\n`,
      ),
    ).toBe(2)
    // a timeline that forked before the replay point is heard of, never followed
    expect(
      followedTimeline(
        `${boot}LOG:  restored log file "00000002.history" from archive\nLOG:  new timeline 2 forked off current database system timeline 1 before current recovery point 0/4000028\n`,
      ),
    ).toBe(1)
  })
  it('reads only the current run of the server', () => {
    expect(
      followedTimeline(
        `${boot}LOG:  new target timeline is 7\nLOG:  database system is shut down\nLOG:  entering standby mode\nLOG:  restored log file "000000030000000000000009" from archive\n`,
      ),
    ).toBe(3)
    expect(followedTimeline('LOG:  database system is ready to accept read-only connections\n')).toBeUndefined()
  })
})
