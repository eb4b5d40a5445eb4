/**
 * Recovery decisions, pure: parse a recovery target, compute each repo's recoverable window,
 * choose the backup set and repo that serve a target, and judge the catalog against the
 * tiers. Selection rule, written down: with no backup named, the newest backup that ended
 * at or before the target is used, from repo1 when it covers the target, else repo2.
 */
import { InputError, inputError } from './errors.ts'
import { formatDuration } from './duration.ts'
import type { DrPolicy, TierId } from './policy.ts'
import { cronPeriodSeconds, cronUnionGapSeconds } from './cron.ts'
import { lsnToBigInt, segmentStart, type WalGap } from './wal.ts'

export type RecoveryTarget =
  | { kind: 'latest' }
  | { kind: 'immediate' }
  | { kind: 'time'; at: number; text: string }
  | { kind: 'lsn'; lsn: string }
  | { kind: 'name'; name: string }

const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$/
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i

export const TARGET_FORMS =
  'latest | immediate | an ISO-8601 time with zone (2026-11-26T04:00:30Z) | lsn:0/3000060 | name:<restore point>'

/**
 * What is impossible about a calendar date and time as written (JavaScript's Date silently rolls
 * 2026-02-30 over to March 2); undefined when every field is in range.
 */
export function impossibleDate(text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(text)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1).map((x) => Number(x ?? 0)) as number[]
  if (month! < 1 || month! > 12) return `month ${m[2]} does not exist`
  const days = new Date(Date.UTC(year!, month!, 0)).getUTCDate()
  if (day! < 1 || day! > days) return `${m[1]}-${m[2]} has ${days} days`
  if (hour! > 23 || minute! > 59 || second! > 59) return `${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ''} is not a time of day`
  return undefined
}

export function parseTarget(raw: string | undefined): RecoveryTarget {
  if (raw === undefined || raw === '') throw inputError('--target', raw, 'is required', `pass one of: ${TARGET_FORMS}`)
  if (raw === 'latest' || raw === 'immediate') return { kind: raw }
  if (raw.startsWith('lsn:')) {
    const lsn = raw.slice(4)
    if (!LSN.test(lsn))
      throw inputError(
        '--target',
        raw,
        'is not an LSN (hex X/Y)',
        'e.g. --target lsn:0/3000060 (see the catalog for the valid range)',
      )
    return { kind: 'lsn', lsn: lsn.toUpperCase() }
  }
  if (raw.startsWith('name:')) {
    const name = raw.slice(5)
    if (!/^[A-Za-z0-9_.-]{1,63}$/.test(name))
      throw inputError(
        '--target',
        raw,
        'is not a restore point name (letters, digits, _ . -; at most 63)',
        'list them with catalog.ts',
      )
    return { kind: 'name', name }
  }
  if (!ISO.test(raw)) {
    const hint = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(raw)
      ? 'add a time zone (Z or +02:00): a time without one is ambiguous at 3 a.m.'
      : `use one of: ${TARGET_FORMS}`
    throw inputError('--target', raw, 'is not a recovery target', hint)
  }
  const at = Date.parse(raw.replace(' ', 'T').replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  const impossible = impossibleDate(raw)
  if (!Number.isFinite(at) || impossible)
    throw inputError(
      '--target',
      raw,
      `is not a valid date${impossible ? ` (${impossible})` : ''}`,
      `use one of: ${TARGET_FORMS}`,
    )
  return { kind: 'time', at, text: raw }
}

export function describeTarget(t: RecoveryTarget): string {
  switch (t.kind) {
    case 'time':
      return `time ${new Date(t.at).toISOString()}`
    case 'lsn':
      return `LSN ${t.lsn}`
    case 'name':
      return `restore point "${t.name}"`
    default:
      return t.kind
  }
}

// ------------------------------------------------------------------ catalog facts

export interface CatalogBackup {
  label: string
  type: 'full' | 'diff' | 'incr'
  repo: number
  /** ms since epoch */
  start: number
  stop: number
  lsnStart: string
  lsnStop: string
  size: number
  repoSize?: number
  error: boolean
}

export interface Point {
  /** ms since epoch of the last commit at or before this point */
  time: number
  lsn: string
}

export interface RepoCatalog {
  repo: number
  backups: CatalogBackup[]
  archiveMin: string | null
  archiveMax: string | null
  /** the consistent end of the oldest usable backup */
  earliest: Point | null
  /** the last commit actually recoverable from archived WAL (up to the first gap after the newest backup) */
  latest: Point | null
  /** WAL missing from the archive after the oldest backup, each with the last point recoverable before it */
  gaps?: CatalogGap[]
  reachable: boolean
  error?: string
}

export interface CatalogGap extends WalGap {
  /** the last commit before the gap (null when none was found) */
  before: Point | null
}

/** A stretch of time a repo can restore to: from a backup's end to the next gap (or the latest point). */
export interface RecoveryWindow {
  from: Point
  to: Point
}

export interface RestorePoint {
  name: string
  lsn: string
  time: number
}

/**
 * The earliest recoverable point of a repo: the end of its oldest valid backup. pgBackRest
 * stamps backups to the second, so the safe time is the next whole second.
 */
export function earliestPoint(backups: CatalogBackup[]): Point | null {
  const ok = backups.filter((b) => !b.error).sort((a, b) => a.stop - b.stop)
  const first = ok[0]
  return first ? { time: first.stop + 1000, lsn: first.lsnStop } : null
}

/** The newest consistent point a backup itself guarantees (its end). */
export function newestBackupEnd(backups: CatalogBackup[]): Point | null {
  const ok = backups.filter((b) => !b.error).sort((a, b) => b.stop - a.stop)
  const last = ok[0]
  return last ? { time: last.stop + 1000, lsn: last.lsnStop } : null
}

export interface RestorePlan {
  repo: number
  backup: CatalogBackup
  target: RecoveryTarget
  /** pgbackrest restore arguments for the target (no paths, no secrets) */
  targetArgs: string[]
  /** the window the target was checked against */
  window: { earliest: Point; latest: Point }
  /** what the tool chose for the operator, said aloud */
  notes: string[]
}

function fmtPoint(p: Point): string {
  return `${new Date(p.time).toISOString()} (LSN ${p.lsn})`
}

const lsnOf = (p: Point) => lsnToBigInt(p.lsn)
const backupEnd = (b: CatalogBackup): Point => ({ time: b.stop + 1000, lsn: b.lsnStop })
const latestOf = (points: (Point | null)[]): Point | null =>
  points.filter((p): p is Point => p !== null).sort((x, y) => (lsnOf(y) > lsnOf(x) ? 1 : -1))[0] ?? null

/**
 * The windows a repo can restore to. From each usable backup's end, WAL replays until the first
 * gap after it (the window ends at the last commit before the gap) or the latest point. A backup
 * whose own end falls in missing WAL is not usable.
 */
export function recoverableWindows(c: RepoCatalog): RecoveryWindow[] {
  const windows: RecoveryWindow[] = []
  const ok = c.backups.filter((x) => !x.error).sort((x, y) => x.stop - y.stop)
  for (const b of ok) {
    const from = backupEnd(b)
    const [start, end] = [lsnToBigInt(b.lsnStart), lsnToBigInt(b.lsnStop)]
    const gaps = c.gaps ?? []
    // missing WAL [firstMissing, resumesAt) inside the backup's own range makes it unusable
    const broken = gaps.some(
      (g) => segmentStart(g.firstMissing) <= end && (g.resumesAt === null || segmentStart(g.resumesAt) > start),
    )
    if (broken) continue
    const gap = gaps.find((g) => segmentStart(g.firstMissing) > end)
    // up to the gap: its last commit, or at least the newest backup that ended before it
    const endsBefore = (g: CatalogGap) => ok.filter((x) => lsnToBigInt(x.lsnStop) < segmentStart(g.firstMissing))
    let to = gap ? latestOf([gap.before, ...endsBefore(gap).map(backupEnd)]) : c.latest
    if (!to || lsnOf(to) < end) to = from
    const same = windows.find((w) => w.to.lsn === to!.lsn)
    if (!same) windows.push({ from, to })
  }
  return windows
}

function windowText(c: RepoCatalog): string {
  const windows = recoverableWindows(c)
  if (!windows.length) return `repo${c.repo} has no recoverable window`
  return `repo${c.repo} can recover ${windows.map((w) => `from ${fmtPoint(w.from)} to ${fmtPoint(w.to)}`).join('; ')}`
}

function inWindow(w: RecoveryWindow, t: RecoveryTarget, points: RestorePoint[]): boolean {
  switch (t.kind) {
    case 'latest':
    case 'immediate':
      return true
    case 'time':
      return t.at >= w.from.time && t.at <= w.to.time
    case 'lsn':
      return lsnToBigInt(t.lsn) >= lsnOf(w.from) && lsnToBigInt(t.lsn) <= lsnOf(w.to)
    case 'name': {
      const p = points.find((x) => x.name === t.name)
      return !!p && lsnOf(p) >= lsnOf(w.from) && lsnOf(p) <= lsnOf(w.to)
    }
  }
}

function covers(c: RepoCatalog, t: RecoveryTarget, points: RestorePoint[]): boolean {
  if (!c.reachable || !c.earliest || !c.latest) return false
  return recoverableWindows(c).some((w) => inWindow(w, t, points))
}

/** The newest valid backup of a repo that ended at or before the target, with no WAL gap between them. */
export function chooseBackup(c: RepoCatalog, t: RecoveryTarget, points: RestorePoint[]): CatalogBackup | undefined {
  const windows = recoverableWindows(c)
  const ok = c.backups.filter((b) => !b.error).sort((a, b) => b.stop - a.stop)
  const usable = (b: CatalogBackup) => {
    const w = windows.find((x) => lsnOf(x.from) <= lsnToBigInt(b.lsnStop) && lsnToBigInt(b.lsnStop) <= lsnOf(x.to))
    return !!w && inWindow(w, t, points)
  }
  switch (t.kind) {
    case 'latest':
    case 'immediate':
      return ok.find(usable)
    case 'time':
      return ok.find((b) => b.stop <= t.at && usable(b))
    case 'lsn':
      return ok.find((b) => lsnToBigInt(b.lsnStop) <= lsnToBigInt(t.lsn) && usable(b))
    case 'name': {
      const p = points.find((x) => x.name === t.name)
      return p ? ok.find((b) => lsnToBigInt(b.lsnStop) <= lsnToBigInt(p.lsn) && usable(b)) : undefined
    }
  }
}

export function targetArgs(t: RecoveryTarget): string[] {
  switch (t.kind) {
    case 'latest':
      return ['--type=default']
    case 'immediate':
      return ['--type=immediate', '--target-action=promote']
    case 'time':
      return [
        '--type=time',
        `--target=${new Date(t.at).toISOString().replace('T', ' ').replace('Z', '+00')}`,
        '--target-action=promote',
      ]
    case 'lsn':
      return ['--type=lsn', `--target=${t.lsn}`, '--target-action=promote']
    case 'name':
      return ['--type=name', `--target=${t.name}`, '--target-action=promote']
  }
}

/**
 * Choose repo and backup set for a target, or refuse with the valid range.
 * `repoChoice` undefined = automatic (repo1 first, then repo2).
 */
function requireKnownPoint(t: RecoveryTarget, points: RestorePoint[]): void {
  if (t.kind === 'name' && !points.some((p) => p.name === t.name))
    throw inputError(
      '--target',
      `name:${t.name}`,
      `unknown restore point; known: ${points.map((p) => p.name).join(', ') || 'none'}`,
      'create one with `backup.ts --restore-point NAME`, or pick a time/LSN target',
    )
}

/** The repos to try, in order: the one asked for, else every repo by number (repo1 first). */
function candidateRepos(catalogs: RepoCatalog[], repoChoice?: number): RepoCatalog[] {
  if (!repoChoice) return [...catalogs].sort((a, b) => a.repo - b.repo)
  const chosen = catalogs.filter((c) => c.repo === repoChoice)
  if (chosen.length === 0)
    throw inputError(
      '--repo',
      repoChoice,
      `no such repo; repos: ${catalogs.map((c) => c.repo).join(', ')}`,
      'pick one of them',
    )
  return chosen
}

export function planRestore(
  t: RecoveryTarget,
  catalogs: RepoCatalog[],
  points: RestorePoint[],
  repoChoice?: number,
): RestorePlan {
  requireKnownPoint(t, points)
  const candidates = candidateRepos(catalogs, repoChoice)
  const notes: string[] = []
  for (const c of candidates) {
    if (!c.reachable) {
      if (repoChoice)
        throw inputError(
          '--repo',
          repoChoice,
          `repo${c.repo} is unreachable: ${c.error}`,
          'check the repo (catalog.ts), its cipher pass and its network, or use another --repo',
        )
      notes.push(`repo${c.repo} is unreachable (${c.error}); trying the next repo`)
      continue
    }
    if (!covers(c, t, points)) {
      if (repoChoice || c === candidates.at(-1)) break
      notes.push(`repo${c.repo} does not cover ${describeTarget(t)} (${windowText(c)}); using the next repo`)
      continue
    }
    const backup = chooseBackup(c, t, points)
    if (!backup) continue
    notes.push(
      `using backup ${backup.label} (${backup.type}, ended ${new Date(backup.stop).toISOString()}) from repo${c.repo}: the newest that ended before the target`,
    )
    return {
      repo: c.repo,
      backup,
      target: t,
      targetArgs: targetArgs(t),
      window: { earliest: c.earliest!, latest: c.latest! },
      notes,
    }
  }
  const usable = candidates.filter((c) => c.reachable)
  const ranges = usable.map(windowText).join('; ') || 'no repo is reachable'
  throw new InputError('recovery target out of range', [
    {
      key: '--target',
      value: describeTarget(t),
      message: `is outside every recoverable window: ${ranges}`,
      fix: 'pick a target inside a window (see `catalog.ts`), or --target latest',
    },
  ])
}

// ------------------------------------------------------------------ tier verdicts

export interface TierVerdict {
  tier: TierId
  ok: boolean
  findings: string[]
}

/** The longest gap between two scheduled backups of any type. */
export function scheduledBackupGapSeconds(p: DrPolicy): number {
  return Math.min(
    ...[p.schedules.full, p.schedules.incremental, p.schedules.differential].map((s) => cronPeriodSeconds(s.cron)),
    cronUnionGapSeconds([p.schedules.full, p.schedules.incremental, p.schedules.differential].map((s) => s.cron)),
  )
}

/**
 * Judge one repo against each tier: the latest backup older than the tier's frequency (or,
 * for continuous tiers, than the backup schedule's longest gap), or the latest recoverable
 * point older than the tier RPO, is flagged with the numbers.
 */
export function tierVerdicts(
  p: DrPolicy,
  c: RepoCatalog,
  now: number,
  archiveCurrent = false,
  graceSeconds = 3600,
): TierVerdict[] {
  return ([1, 2, 3] as TierId[]).map((tier) => {
    const t = p.tiers[tier]
    const findings: string[] = []
    const latestBackup = c.backups.filter((b) => !b.error).sort((a, b) => b.stop - a.stop)[0]
    const frequency =
      t.backupFrequency > 0 ? Math.max(t.backupFrequency, scheduledBackupGapSeconds(p)) : scheduledBackupGapSeconds(p)
    if (!c.reachable) findings.push(`repo${c.repo} is unreachable: ${c.error}`)
    else if (!latestBackup) findings.push(`repo${c.repo} holds no valid backup`)
    else {
      const age = (now - latestBackup.stop) / 1000
      if (age > frequency + graceSeconds)
        findings.push(
          `latest backup ${latestBackup.label} is ${formatDuration(age)} old; tier ${tier} expects one every ${formatDuration(frequency)}`,
        )
    }
    if (c.reachable && c.latest && !archiveCurrent) {
      // an idle database commits nothing: only a primary reporting unarchived WAL proves lag
      const lag = (now - c.latest.time) / 1000
      if (lag > t.rpo)
        findings.push(
          `latest recoverable point is ${formatDuration(lag)} old (archive lag); tier ${tier} RPO is ${formatDuration(t.rpo)}`,
        )
    } else if (c.reachable && !c.latest) findings.push(`no recoverable point in repo${c.repo}'s archive`)
    for (const g of c.gaps ?? []) findings.push(gapFinding(c.repo, g))
    return { tier, ok: findings.length === 0, findings }
  })
}

function gapFinding(repo: number, g: CatalogGap): string {
  const resumes = g.resumesAt ? `, the archive resumes at ${g.resumesAt}` : ', nothing after it'
  const last = g.before ? fmtPoint(g.before) : `the end of ${g.lastPresent}`
  return `WAL ${g.firstMissing} is missing from repo${repo}'s archive (after ${g.lastPresent}${resumes}): nothing after ${last} can be recovered from repo${repo} until a backup taken after the gap`
}
