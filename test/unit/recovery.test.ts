import { describe, expect, it } from 'vitest'
import {
  rpoGap,
  planRestore,
  earliestPoint,
  recoverableWindows,
  type RepoCatalog,
  type CatalogBackup,
  awaitsNewerCommit,
} from '../../core/recovery.ts'
import { tierVerdicts } from '../../core/tier-verdicts.ts'
import { parseTarget, targetArgs } from '../../core/recovery-target.ts'
import { InputError } from '../../core/errors.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { lastCommit } from '../../runbooks/lib/ops/catalog/catalog.ts'
import { archiveGaps, lsnToBigInt as lsnValue, previousSegment, segmentEnd, segmentName } from '../../core/wal.ts'
import { withoutRestoreSettings } from '../../runbooks/lib/sites/local/config-files.ts'
import { reachedFromLog } from '../../runbooks/lib/ops/restore/cluster.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const policy = loadPolicy(ROOT, 'local')
const H = 3600_000
const T = Date.parse('2026-11-26T00:00:00Z')

const backup = (
  label: string,
  type: CatalogBackup['type'],
  stopH: number,
  lsnStop: string,
  repo = 1,
): CatalogBackup => ({
  label,
  type,
  repo,
  start: T + stopH * H - 60_000,
  stop: T + stopH * H,
  lsnStart: '0/1000000',
  lsnStop,
  size: 1,
  error: false,
})
const repo = (
  n: number,
  backups: CatalogBackup[],
  latestH: number,
  latestLsn: string,
  reachable = true,
): RepoCatalog => ({
  repo: n,
  backups,
  archiveMin: null,
  archiveMax: null,
  earliest: earliestPoint(backups),
  latest: { time: T + latestH * H, lsn: latestLsn },
  reachable,
  error: reachable ? undefined : 'connection refused',
})

describe('recovery targets', () => {
  it.each([
    ['latest', { kind: 'latest' }],
    ['immediate', { kind: 'immediate' }],
    ['lsn:0/3000060', { kind: 'lsn', lsn: '0/3000060' }],
    ['name:before-migration', { kind: 'name', name: 'before-migration' }],
  ])('parses %s', (raw, want) => expect(parseTarget(raw)).toMatchObject(want))

  it('parses ISO-8601 times with a zone', () => {
    expect(parseTarget('2026-11-26T04:00:30.375Z')).toMatchObject({
      kind: 'time',
      at: Date.parse('2026-11-26T04:00:30.375Z'),
    })
    expect(parseTarget('2026-11-26 05:00:30+01:00')).toMatchObject({
      kind: 'time',
      at: Date.parse('2026-11-26T04:00:30Z'),
    })
  })

  it.each([
    ['2026-11-26T04:00:30', /time zone/],
    ['yesterday', /not a recovery target/],
    ['lsn:zz', /not an LSN/],
    ['2026-13-45T99:00:00Z', /not a valid date|not a recovery target/],
    ['2026-02-30T10:00:00Z', /not a valid date \(2026-02 has 28 days\)/],
    ['2028-02-30T10:00:00Z', /2028-02 has 29 days/],
    ['2026-04-31 10:00:00+02:00', /2026-04 has 30 days/],
    ['2026-11-26T24:00:00Z', /not a time of day/],
    ['', /required/],
  ])('rejects %j with a fix', (raw, msg) => {
    expect(() => parseTarget(raw)).toThrow(InputError)
    expect(() => parseTarget(raw)).toThrow(msg)
  })

  it('accepts the last day of each month, leap days included', () => {
    expect(parseTarget('2028-02-29T10:00:00Z')).toMatchObject({ kind: 'time', at: Date.parse('2028-02-29T10:00:00Z') })
    expect(parseTarget('2026-12-31T23:59:59Z')).toMatchObject({ kind: 'time' })
  })

  it('maps targets to pgBackRest arguments', () => {
    expect(targetArgs({ kind: 'lsn', lsn: '0/3000060' })).toEqual([
      '--type=lsn',
      '--target=0/3000060',
      '--target-action=promote',
    ])
    expect(targetArgs({ kind: 'time', at: Date.parse('2026-11-26T04:00:30.375Z'), text: '' })).toContain(
      '--target=2026-11-26 04:00:30.375+00',
    )
  })
})

describe('backup set selection: the newest backup that ended before the target', () => {
  const r1 = repo(
    1,
    [
      backup('F1', 'full', 0, '0/2000000'),
      backup('I1', 'incr', 10, '0/5000000'),
      backup('D1', 'diff', 20, '0/9000000'),
    ],
    30,
    '0/C000000',
  )
  const r2 = repo(2, [backup('F2', 'full', -48, '0/1000100', 2)], 29, '0/B000000')

  it.each([
    ['a time between incr and diff', { kind: 'time', at: T + 15 * H, text: '' }, 1, 'I1'],
    ['a time after the diff', { kind: 'time', at: T + 25 * H, text: '' }, 1, 'D1'],
    ['latest', { kind: 'latest' }, 1, 'D1'],
    ['an LSN before the diff', { kind: 'lsn', lsn: '0/6000000' }, 1, 'I1'],
    ['a time only repo2 covers', { kind: 'time', at: T - 10 * H, text: '' }, 2, 'F2'],
    [
      'a time while the incr was still running (it is not consistent yet)',
      { kind: 'time', at: T + 10 * H - 30_000, text: '' },
      1,
      'F1',
    ],
  ] as const)('%s', (_, target, wantRepo, wantLabel) => {
    const plan = planRestore(target as any, [r1, r2], [])
    expect([plan.repo, plan.backup.label]).toEqual([wantRepo, wantLabel])
  })

  it('says so when it substitutes repo2 for repo1', () => {
    const plan = planRestore({ kind: 'time', at: T - 10 * H, text: '' }, [r1, r2], [])
    expect(plan.notes.join(' ')).toMatch(/repo1 does not cover .* using the next repo/)
  })

  it('uses repo2 alone when repo1 is unreachable (the cold site)', () => {
    const dead = { ...r1, reachable: false, error: 'disk gone' }
    const plan = planRestore({ kind: 'latest' }, [dead, r2], [])
    expect(plan.repo).toBe(2)
    expect(plan.notes[0]).toMatch(/repo1 is unreachable/)
  })

  it('resolves a named restore point through its LSN', () => {
    const plan = planRestore(
      { kind: 'name', name: 'pre' },
      [r1, r2],
      [{ name: 'pre', lsn: '0/9500000', time: T + 21 * H }],
    )
    expect(plan.backup.label).toBe('D1')
  })

  it.each([
    [
      'before the earliest point',
      { kind: 'time', at: T - 100 * H, text: '' },
      /outside every recoverable window: repo1 can recover from/,
    ],
    ['after the latest point', { kind: 'time', at: T + 31 * H, text: '' }, /outside every recoverable window/],
    ['an LSN past the archive', { kind: 'lsn', lsn: '0/FF000000' }, /outside every recoverable window/],
    ['an unknown restore point', { kind: 'name', name: 'nope' }, /unknown restore point; known: pre/],
  ] as const)('refuses a target %s, naming the valid range', (_, target, msg) => {
    expect(() => planRestore(target as any, [r1, r2], [{ name: 'pre', lsn: '0/9500000', time: T }])).toThrow(msg)
  })

  it('refuses an unreachable repo that was asked for', () => {
    expect(() =>
      planRestore({ kind: 'latest' }, [{ ...r1, reachable: false, error: 'bad cipher' }, r2], [], 1),
    ).toThrow(/repo1 is unreachable: bad cipher/)
  })
})

describe('tier verdicts', () => {
  const now = T + 30 * H
  it('passes a fresh backup and a current archive', () => {
    const c = repo(1, [backup('F', 'full', 29, '0/2000000')], 30, '0/3000000')
    expect(tierVerdicts(policy, c, now).every((v) => v.ok)).toBe(true)
  })
  it('flags a backup older than the schedule allows, with the numbers', () => {
    const c = repo(1, [backup('F', 'full', -48, '0/2000000')], 30, '0/3000000')
    const v = tierVerdicts(policy, c, now)
    expect(v[0]!.ok).toBe(false)
    expect(v[0]!.findings[0]).toMatch(/latest backup F is 3.3 d old; tier 1 expects one every 24 h/)
  })
  it('flags archive lag beyond the tier RPO, unless the primary reports the archive current', () => {
    const c = repo(1, [backup('F', 'full', 29, '0/2000000')], 29.5, '0/3000000')
    const v = tierVerdicts(policy, c, now)
    expect(v.find((x) => x.tier === 1)!.findings.join()).toMatch(/30 min old .* tier 1 RPO is 15 min/)
    expect(v.find((x) => x.tier === 2)!.ok).toBe(true) // 30 min is inside tier 2's 1 h
    expect(tierVerdicts(policy, c, now, true).every((x) => x.ok)).toBe(true)
  })
})

describe('reading WAL and server logs', () => {
  it('finds the last COMMIT in pg_waldump output', () => {
    const dump = [
      'rmgr: Heap        len (rec/tot):     59/    59, tx:        740, lsn: 0/0300A0B8, prev 0/0300A080, desc: INSERT off 3',
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        740, lsn: 0/0300A0F8, prev 0/0300A0B8, desc: COMMIT 2026-11-26 06:46:48.123456 UTC',
      'rmgr: Transaction len (rec/tot):     34/    34, tx:        741, lsn: 0/0300A160, prev 0/0300A0F8, desc: COMMIT 2026-11-26 06:46:49.5 UTC',
      'rmgr: Standby     len (rec/tot):     50/    50, tx:          0, lsn: 0/0300A188, prev 0/0300A160, desc: RUNNING_XACTS',
    ].join('\n')
    expect(lastCommit(dump)).toEqual({ lsn: '0/0300A160', time: Date.parse('2026-11-26T06:46:49.5Z') })
    expect(lastCommit('rmgr: XLOG desc: SWITCH')).toBeUndefined()
  })
  it('steps back one WAL segment, across the 0xFF boundary', () => {
    expect(previousSegment('000000010000000000000011')).toBe('000000010000000000000010')
    expect(previousSegment('000000020000000100000000')).toBe('0000000200000000000000FF')
    expect(previousSegment('000000010000000000000000')).toBeUndefined()
  })
  it('knows where a WAL segment ends, so the search for the last commit stops at the newest backup', () => {
    expect(segmentEnd('000000010000000000000003')).toBe(lsnValue('0/4000000'))
    expect(segmentEnd('0000000200000001000000FF')).toBe(lsnValue('2/0'))
    // a backup that ended inside segment ...25: that segment is still searched, ...24 is not
    expect(segmentEnd('000000010000000100000025') > lsnValue('1/25000100')).toBe(true)
    expect(segmentEnd('000000010000000100000024') > lsnValue('1/25000100')).toBe(false)
  })
  it('reads the recovery point reached from the server log', () => {
    const log = `LOG:  recovery stopping before commit of transaction 1234, time 2026-11-26 07:03:43.130+00
LOG:  redo done at 0/13000138 system usage: CPU
LOG:  last completed transaction was at log time 2026-11-26 07:03:43.114+00`
    expect(reachedFromLog(log)).toEqual({
      time: '2026-11-26T07:03:43.114Z',
      lsn: '0/13000138',
      detail: 'stopped before commit at 2026-11-26 07:03:43.130+00',
    })
  })
})

describe('postgresql.auto.conf after a pgBackRest restore', () => {
  it("loses the restore's recovery block and keeps everything else", () => {
    const text = `# Do not edit this file manually!
# It will be overwritten by the ALTER SYSTEM command.
work_mem = '64MB'

# Recovery settings generated by pgBackRest restore on 2026-11-26 10:31:27
restore_command = 'pgbackrest --pg1-path=/x/data.restoring-1 archive-get %f "%p"'
recovery_target_name = 'before-risky-work'
recovery_target_action = 'pause'
`
    const out = withoutRestoreSettings(text)
    expect(out).toContain(`work_mem = '64MB'`)
    expect(out).not.toMatch(/pgBackRest|restore_command|recovery_target/)
    expect(withoutRestoreSettings(out)).toBe(out)
  })
})

describe('WAL gaps: an archive holds windows, not one range', () => {
  const seg = (tl: number, n: number) =>
    `${tl.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`

  it('finds a missing segment inside a timeline', () => {
    expect(archiveGaps([seg(1, 1), seg(1, 2), seg(1, 4), seg(1, 5)])).toEqual([
      { lastPresent: seg(1, 2), firstMissing: seg(1, 3), resumesAt: seg(1, 4) },
    ])
  })

  it('a timeline that forks inside (or right after) the previous one is no gap', () => {
    expect(archiveGaps([seg(1, 1), seg(1, 2), seg(1, 3), seg(2, 3), seg(2, 4)])).toEqual([])
    expect(archiveGaps([seg(1, 1), seg(1, 2), seg(2, 3), seg(2, 4)])).toEqual([])
    expect(archiveGaps([seg(1, 1), seg(1, 5), seg(1, 6), seg(2, 5), seg(2, 6), seg(2, 7)])).toEqual([
      { lastPresent: seg(1, 1), firstMissing: seg(1, 2), resumesAt: seg(1, 5) },
    ])
  })

  it('finds the segments missing between two timelines', () => {
    expect(archiveGaps([seg(1, 1), seg(1, 2), seg(2, 4), seg(2, 5)])).toEqual([
      { lastPresent: seg(1, 2), firstMissing: seg(1, 3), resumesAt: seg(2, 4) },
    ])
  })

  // backup A ends in segment 2 at T+1h; segment 4 is missing (last commit before it at T+2h);
  // backup B ends in segment 6 at T+4h; the archive's newest commit is at T+6h
  const a: CatalogBackup = { ...backup('A', 'full', 1, '0/2000100'), lsnStart: '0/2000028' }
  const b: CatalogBackup = { ...backup('B', 'full', 4, '0/6000100'), lsnStart: '0/6000028' }
  const gap = {
    lastPresent: seg(1, 3),
    firstMissing: seg(1, 4),
    resumesAt: seg(1, 5),
    before: { time: T + 2 * H, lsn: '0/3FFFF00' },
  }
  const withGap: RepoCatalog = { ...repo(1, [a, b], 6, '0/8000000'), gaps: [gap] }
  const whole: RepoCatalog = repo(
    2,
    [
      { ...a, repo: 2 },
      { ...b, repo: 2 },
    ],
    6,
    '0/8000000',
  )

  it('splits the recoverable time at the gap: from each backup to the next gap', () => {
    expect(recoverableWindows(withGap)).toMatchObject([
      { from: { time: a.stop + 1000, lsn: a.lsnStop }, to: gap.before, lastCommit: gap.before, walEnd: '0/4000000' },
      {
        from: { time: b.stop + 1000, lsn: b.lsnStop },
        to: { time: T + 6 * H, lsn: '0/8000000' },
        walEnd: null,
      },
    ])
  })

  it('a backup whose own WAL is missing is not usable', () => {
    const broken = {
      ...withGap,
      gaps: [{ ...gap, lastPresent: seg(1, 1), firstMissing: seg(1, 2), resumesAt: seg(1, 3) }],
    }
    expect(recoverableWindows(broken).map((w) => w.from.lsn)).toEqual([b.lsnStop])
  })

  it('a target inside the gap is served by the repo whose WAL covers it, and the plan says so', () => {
    const p = planRestore({ kind: 'time', at: T + 3 * H, text: '' }, [withGap, whole], [])
    expect(p.repo).toBe(2)
    expect(p.backup.label).toBe('A')
    expect(p.notes.join(' ')).toMatch(/repo1 does not cover .*from .* to .*; from .* to/)
  })

  it('a target before the gap still restores from repo1, from the backup before it', () => {
    const p = planRestore({ kind: 'time', at: T + 1.5 * H, text: '' }, [withGap, whole], [])
    expect([p.repo, p.backup.label]).toEqual([1, 'A'])
  })

  it('with --repo 1, a target inside the gap is refused, naming the windows and the missing segment', () => {
    expect(() => planRestore({ kind: 'time', at: T + 3 * H, text: '' }, [withGap, whole], [], 1)).toThrow(
      /outside every recoverable window: repo1 can recover from .* to .*; from .* to .*WAL segment 000000010000000000000004 is missing from repo1's archive/,
    )
  })

  it('the tier verdicts flag the gap with the segment and the last recoverable point', () => {
    const v = tierVerdicts(policy, withGap, T + 6 * H + 60_000, true)
    expect(v.every((x) => !x.ok)).toBe(true)
    expect(v[0]!.findings.join(' ')).toMatch(
      new RegExp(
        `WAL ${gap.firstMissing} is missing from repo1's archive \\(after ${gap.lastPresent}, the archive resumes at ${gap.resumesAt}\\)`,
      ),
    )
  })
})

describe('segment names', () => {
  it('names the segment holding an LSN on a timeline', () => {
    expect(segmentName(2, '0/10000000')).toBe('000000020000000000000010')
    expect(segmentName(1, '1/FF000028')).toBe('0000000100000001000000FF')
  })
})

describe('rpoGap: what a proven restore lacks of the archive as it was', () => {
  const newest = { time: Date.parse('2026-11-30T10:00:10Z'), lsn: '0/5000100' }
  it('nothing when the newest archived commit lies before X (by LSN), whatever the clocks', () => {
    expect(rpoGap(newest, '0/6000000', null)).toBe(0)
  })
  it('else the time from the last commit the restore holds; unknown when that is unknown', () => {
    expect(rpoGap(newest, '0/5000000', Date.parse('2026-11-30T10:00:00Z'))).toBe(10)
    expect(rpoGap(newest, '0/5000000', null)).toBeNull()
    expect(rpoGap(null, '0/5000000', 0)).toBeNull()
  })
})

describe('windows promise only what recovery can reach', () => {
  // one backup ends at T+1h in segment 2; the last archived commit is at T+2h in segment 3; the
  // newest backup ends at T+3h (after every archived commit): the archive ends with segment 6
  const one: CatalogBackup = { ...backup('A', 'full', 1, '0/2000100'), lsnStart: '0/2000028' }
  const two: CatalogBackup = { ...backup('B', 'full', 3, '0/6000100'), lsnStart: '0/6000028' }
  const commitAt = { time: T + 2 * H, lsn: '0/3000200' }
  const idle: RepoCatalog = {
    ...repo(1, [one, two], 6, '0/6000100'),
    archiveMax: segmentName(1, '0/6000100'),
    latest: { time: two.stop + 1000, lsn: two.lsnStop },
    lastCommit: commitAt,
  }
  const points = [{ name: 'fresh', lsn: '0/6000200', time: T + 3 * H + 5000 }]

  it('a time target after the last archived commit is refused, though before the newest backup’s end, saying why', () => {
    expect(() => planRestore({ kind: 'time', at: T + 2.5 * H, text: '' }, [idle], [], 1)).toThrow(
      /a time target from .* to before .*, the last archived commit/,
    )
    expect(planRestore({ kind: 'time', at: T + 1.5 * H, text: '' }, [idle], [], 1).backup.label).toBe('A')
  })

  it('a restore point archived after the last commit is reachable (its own record is in the archive)', () => {
    const p = planRestore({ kind: 'name', name: 'fresh' }, [idle], points, 1)
    expect(p.backup.label).toBe('B')
  })

  it('latest still reaches the newest backup’s end', () => {
    expect(planRestore({ kind: 'latest' }, [idle], [], 1).backup.label).toBe('B')
  })

  it('awaitsNewerCommit: a past time with no archived commit after it, in the growing window', () => {
    const now = T + 4 * H
    expect(awaitsNewerCommit({ kind: 'time', at: T + 2.5 * H, text: '' }, [idle], now)).toBe(true)
    expect(awaitsNewerCommit({ kind: 'time', at: T + 1.5 * H, text: '' }, [idle], now)).toBe(false)
    expect(awaitsNewerCommit({ kind: 'time', at: T + 5 * H, text: '' }, [idle], now)).toBe(false)
  })
})

describe('latest across a gap says where it stops', () => {
  const a: CatalogBackup = { ...backup('A', 'full', 1, '0/2000100'), lsnStart: '0/2000028' }
  const gapped: RepoCatalog = {
    ...repo(1, [a], 6, '0/8000000'),
    gaps: [
      {
        lastPresent: '000000010000000000000003',
        firstMissing: '000000010000000000000004',
        resumesAt: '000000010000000000000005',
        before: { time: T + 2 * H, lsn: '0/3FFFF00' },
      },
    ],
  }
  it('the plan names the missing segment and the point recovery stops at', () => {
    const p = planRestore({ kind: 'latest' }, [gapped], [], 1)
    expect(p.notes.join(' ')).toMatch(
      /latest from repo1 is NOT the newest commit: WAL segment 000000010000000000000004 is missing .*recovery stops at .*0\/3FFFF00/,
    )
  })
})
