import { describe, expect, it } from 'vitest'
import { decideFailover, lossWindow, type FailoverFacts } from '../../core/failover.ts'
import {
  commitsIn,
  followedTimeline,
  parseControlData,
  strandedBefore,
} from '../../runbooks/lib/adapters/cluster-files.ts'
import { cancelledSyncWaits } from '../../runbooks/lib/ops/failover/facts.ts'

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
  it('a standby started with the newest history already there follows it through older segments', () => {
    // after a rewind: recovery begins on timeline 5's segments and crosses to 7 without a target switch
    const run = ['5', '6', '7']
      .map((tl) => `LOG:  restored log file "0000000${tl}000000000000002C" from archive\n`)
      .join('')
    expect(
      followedTimeline(`LOG:  entering standby mode\nLOG:  restored log file "00000007.history" from archive\n${run}`),
    ).toBe(7)
  })
})

describe('strandedBefore: a warm standby that can never follow', () => {
  const stranded = `LOG:  entering standby mode\nLOG:  restored log file "00000007.history" from archive\nLOG:  new timeline 7 forked off current database system timeline 5 before current recovery point 0/33000000\n`
  it('names the timeline it cannot follow, from the current run only', () => {
    expect(strandedBefore(stranded)).toBe(7)
    expect(
      strandedBefore(`${stranded}LOG:  database system is shut down\nLOG:  entering standby mode\n`),
    ).toBeUndefined()
    expect(strandedBefore('LOG:  entering standby mode\nLOG:  new target timeline is 7\n')).toBeUndefined()
  })
})

describe('the data-loss window, from what was observed', () => {
  const cand = { name: 'node2', health: 'up' as const, inRecovery: true }
  const now = Date.parse('2026-11-27T10:00:10Z')
  const at = (s: number) => Date.parse('2026-11-27T10:00:00Z') + s * 1000
  const read = (missing: number[], released = 0) => ({
    readable: true as const,
    primary: 'node1',
    candidateLsn: '0/5000000',
    missing: missing.map((s, i) => ({ lsn: `0/50000${10 + i}`, time: at(s) })),
    releasedUnreplicated: released,
  })
  const base = { lastSafeAt: at(0), primaryLastSeenAt: at(5), now }

  it("no commit in the old primary's WAL after the candidate's position: no loss, observed", () => {
    const l = lossWindow(cand, { ...base, synchronous: false, primaryWal: read([]) })
    expect(l).toEqual({
      seconds: 0,
      basis: "observed: node1's own WAL after 0/5000000 (what node2 holds) holds no commit",
    })
  })

  it('in-flight commits a synchronous primary never released: not acknowledged, said so', () => {
    const l = lossWindow(cand, { ...base, synchronous: true, primaryWal: read([1, 2]) })
    expect(l.seconds).toBe(0)
    expect(l.basis).toMatch(
      /2 commit\(s\) .* never reached node2, but synchronous replication held them .* no wait cancelled/,
    )
  })

  it('a cancelled synchronous wait (committed locally, acknowledged) counts as loss even in synchronous mode', () => {
    const l = lossWindow(cand, { ...base, synchronous: true, primaryWal: read([3], 1) })
    expect(l.seconds).toBe(3)
    expect(l.basis).toMatch(
      /1 commit\(s\) .* never reached node2 .*1 synchronous wait\(s\) cancelled in node1's log: acknowledged without replication/,
    )
  })

  it('asynchronous: the window runs from what the candidate holds to the last missing commit', () => {
    const l = lossWindow(cand, { ...base, synchronous: false, primaryWal: read([1, 4]) })
    expect(l.seconds).toBe(4)
    expect(l.basis).toMatch(/asynchronous replication: they may have been acknowledged/)
  })

  it("unreadable WAL: synchronous settings prove nothing; bounded by the primary's last answer", () => {
    const l = lossWindow(cand, {
      ...base,
      synchronous: true,
      primaryWal: { readable: false, primary: 'node1', why: 'gone' },
    })
    expect(l.seconds).toBe(5)
    expect(l.basis).toMatch(/^node1's WAL cannot be read \(gone\); node2 holds everything up to/)
  })

  it('an unknown system identifier never passes the guard', () => {
    const d = decideFailover(
      facts({
        primary: { name: 'node1', health: 'down' },
        stanzaSystemId: undefined,
        systemIdUnknown: 'no pg_control; the stanza: timeout',
      }),
    )
    expect(d).toMatchObject({ action: 'refuse' })
    expect(d.reason).toMatch(
      /cannot verify that candidate node2 is a replica of this cluster: no pg_control; the stanza: timeout/,
    )
  })
})

describe('facts read from a dead primary', () => {
  it('counts the synchronous waits its log says were cancelled since a moment', () => {
    const log = [
      '2026-11-27 09:59:00.000 UTC [10] postgres@labdojo WARNING:  canceling wait for synchronous replication due to user request',
      '2026-11-27 10:00:02.500 UTC [11] postgres@labdojo WARNING:  canceling wait for synchronous replication due to user request',
      '2026-11-27 10:00:02.500 UTC [11] postgres@labdojo DETAIL:  The transaction has already committed locally, but might not have been replicated to the standby.',
      '2026-11-27 10:00:03.000 UTC [12] postgres@labdojo WARNING:  canceling the wait for synchronous replication and terminating connection due to administrator command',
    ].join('\n')
    expect(cancelledSyncWaits(log, Date.parse('2026-11-27T10:00:00Z'))).toBe(2)
  })

  it('reads pg_controldata and pg_waldump output', () => {
    const c = parseControlData(
      "Database system identifier:           7441234567890123456\nDatabase cluster state:               in production\nLatest checkpoint location:           0/3000060\nLatest checkpoint's TimeLineID:       4\n",
    )
    expect(c).toEqual({ systemId: '7441234567890123456', state: 'in production', checkpoint: '0/3000060', timeline: 4 })
    const dump =
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        745, lsn: 0/05000110, prev 0/050000D8, desc: COMMIT 2026-11-27 10:00:01.123456 UTC'
    expect(commitsIn(dump)).toEqual([{ lsn: '0/05000110', time: Date.parse('2026-11-27T10:00:01.123456Z') }])
  })
})
