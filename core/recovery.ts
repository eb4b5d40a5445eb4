/**
 * Recovery decisions, pure: each repo's recoverable windows, and the backup set and repo that
 * serve a target. Selection rule, written down: with no backup named, the newest backup that
 * ended at or before the target is used, from repo1 when its WAL covers the target, else repo2.
 */
import { InputError, inputError } from './errors.ts'
import { describeTarget, targetArgs, type RecoveryTarget } from './recovery-target.ts'
import { bigIntToLsn, lsnToBigInt, segmentEnd, segmentStart, type WalGap } from './wal.ts'

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
  /**
   * The newest commit found in the archive (up to the first gap after the newest backup): a time
   * target needs a commit after it in archived WAL, or recovery ends before reaching it. null: none
   * after the newest backup's end; absent: not known apart from `latest`.
   */
  lastCommit?: Point | null
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
  /** the newest archived commit in the window (a time target must lie before it); null: none known */
  lastCommit: Point | null
  /** the first LSN the archive no longer holds for this window (a gap, or past the newest segment) */
  walEnd: string | null
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
  /** latest only: the first WAL missing from the chosen repo's archive after the backup (recovery stops there) */
  gapAfter?: CatalogGap
}

export function fmtPoint(p: Point): string {
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
    const commit = gap ? gap.before : c.lastCommit === undefined ? c.latest : c.lastCommit
    const lastCommit = commit && lsnOf(commit) >= start ? commit : null
    const walEndAt = gap ? segmentStart(gap.firstMissing) : c.archiveMax ? segmentEnd(c.archiveMax) : null
    const walEnd = walEndAt === null ? null : bigIntToLsn(walEndAt)
    const same = windows.find((w) => w.to.lsn === to!.lsn)
    if (!same) windows.push({ from, to, lastCommit, walEnd })
  }
  return windows
}

/** What a time target can reach in a window: from its start to (not including) its last archived commit. */
function timeRange(w: RecoveryWindow): string {
  return w.lastCommit && w.lastCommit.time > w.from.time
    ? `a time target from ${new Date(w.from.time).toISOString()} to before ${new Date(w.lastCommit.time).toISOString()}, the last archived commit`
    : `no time target: no commit archived after ${new Date(w.from.time).toISOString()}`
}

function windowText(c: RepoCatalog): string {
  const windows = recoverableWindows(c)
  if (!windows.length) return `repo${c.repo} has no recoverable window`
  const gaps = (c.gaps ?? []).map(
    (g) =>
      `WAL segment ${g.firstMissing} is missing from repo${c.repo}'s archive (after ${g.lastPresent}; ${g.resumesAt ? `it resumes at ${g.resumesAt}` : 'nothing after it'}): recovery cannot replay past it`,
  )
  return `repo${c.repo} can recover ${windows.map((w) => `from ${fmtPoint(w.from)} to ${fmtPoint(w.to)} (${timeRange(w)})`).join('; ')}${gaps.length ? `; ${gaps.join('; ')}` : ''}`
}

function inWindow(w: RecoveryWindow, t: RecoveryTarget, points: RestorePoint[]): boolean {
  switch (t.kind) {
    case 'latest':
    case 'immediate':
      return true
    case 'time':
      // recovery stops at the first commit after the target: one must be archived
      return !!w.lastCommit && t.at >= w.from.time && t.at < w.lastCommit.time
    case 'lsn':
      return lsnToBigInt(t.lsn) >= lsnOf(w.from) && lsnToBigInt(t.lsn) <= lsnOf(w.to)
    case 'name': {
      // the restore point's own record must be archived (it is no commit: the last commit may lie before it)
      const p = points.find((x) => x.name === t.name)
      const end = w.walEnd ? lsnToBigInt(w.walEnd) : lsnOf(w.to) + 1n
      return !!p && lsnOf(p) >= lsnOf(w.from) && lsnOf(p) < end
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

/** The first gap in a repo's archive after a backup's end, if any: a restore to latest stops there. */
function gapAfter(c: RepoCatalog, b: CatalogBackup): CatalogGap | undefined {
  return (c.gaps ?? []).find((g) => segmentStart(g.firstMissing) > lsnToBigInt(b.lsnStop))
}

/**
 * A time target no archived commit follows yet, though WAL could still bring one (it is not in the
 * future): true when some window starts at or before it and its last archived commit does not lie
 * after it. The site can then close the WAL on its live primary (a commit, a switch, the segment
 * archived) and look again, instead of refusing a target inside the window it showed.
 */
export function awaitsNewerCommit(t: RecoveryTarget, catalogs: RepoCatalog[], now: number): boolean {
  if (t.kind !== 'time' || t.at > now) return false
  return catalogs.some((c) => {
    // only the newest window grows with new WAL, and only when no gap ends it
    const w = c.reachable ? recoverableWindows(c).at(-1) : undefined
    const grows = !!w && !!c.archiveMax && w.walEnd === bigIntToLsn(segmentEnd(c.archiveMax))
    return grows && t.at >= w.from.time && (!w.lastCommit || t.at >= w.lastCommit.time)
  })
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
    const cut = t.kind === 'latest' ? gapAfter(c, backup) : undefined
    if (cut)
      notes.push(
        `latest from repo${c.repo} is NOT the newest commit: WAL segment ${cut.firstMissing} is missing from its archive, so recovery stops at ${cut.before ? fmtPoint(cut.before) : 'the end of the WAL before it'}; what was committed after that is not restored (another repo may hold it: catalog.ts)`,
      )
    return {
      repo: c.repo,
      backup,
      target: t,
      targetArgs: targetArgs(t),
      window: { earliest: c.earliest!, latest: c.latest! },
      notes,
      ...(cut ? { gapAfter: cut } : {}),
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

/**
 * What the restore lacks of the archive as it was when the proof began: nothing when the newest
 * archived commit lies before X (by LSN, a fact); else the time from the last commit the
 * restore holds to it; unknown (null) when neither can be said.
 */
export function rpoGap(newestArchived: Point | null, x: string, restoredAt: number | null): number | null {
  if (!newestArchived) return null
  if (lsnToBigInt(newestArchived.lsn) < lsnToBigInt(x)) return 0
  return restoredAt === null ? null : Math.max(0, (newestArchived.time - restoredAt) / 1000)
}
