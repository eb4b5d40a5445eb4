/**
 * Files backups, pure: which snapshot a restore takes, which ones retention removes, how old the
 * newest is against its tier, and whether a restored tree matches its snapshot file by file.
 */
import type { DrPolicy, FileClass, FileKind } from './policy.ts'
import { inputError } from './errors.ts'

export interface SnapshotRef {
  id: string
  time: string
}

/** The classes a `--type` (files|config|source) and optional `--class` name. */
export function classesFor(p: DrPolicy, kind: FileKind, only?: string): FileClass[] {
  const all = p.files.filter((c) => c.kind === kind)
  if (only === undefined) {
    if (!all.length) throw inputError('--type', kind, 'no class of this kind in policy.files', 'declare one')
    return all
  }
  const c = all.find((x) => x.name === only)
  if (!c)
    throw inputError(
      '--class',
      only,
      `is not a ${kind} class of policy.files (${all.map((x) => x.name).join(', ') || 'none'})`,
      'pick one of them',
    )
  return [c]
}

/** The newest snapshot taken at or before `at` (all of them when no time is given). */
export function snapshotAt<T extends SnapshotRef>(snaps: T[], at?: Date): T | undefined {
  return snaps
    .filter((s) => !at || Date.parse(s.time) <= at.getTime())
    .sort((a, b) => a.time.localeCompare(b.time))
    .at(-1)
}

/**
 * Snapshots past the class's retention. The newest is never removed (a class always keeps its
 * latest copy, whatever its age), and an indefinite class removes nothing.
 */
export function expiredSnapshots<T extends SnapshotRef>(snaps: T[], cls: FileClass, now: Date): T[] {
  if (cls.retention === 'indefinite') return []
  const newest = snapshotAt(snaps)
  const cutoff = now.getTime() - cls.retention * 1000
  return snaps.filter((s) => s !== newest && Date.parse(s.time) < cutoff)
}

/** Age of the newest snapshot against the tier's RPO. */
export function freshness(p: DrPolicy, cls: FileClass, newest: SnapshotRef | undefined, now: Date) {
  const rpo = p.tiers[cls.tier].rpo
  const ageSeconds = newest ? Math.round((now.getTime() - Date.parse(newest.time)) / 1000) : null
  return { rpoSeconds: rpo, ageSeconds, ok: ageSeconds !== null && ageSeconds <= rpo }
}

export interface TreeEntry {
  /** from the snapshot's root: /uploads/a.jpg */
  path: string
  type: 'file' | 'dir' | 'symlink'
  size?: number
  /** permission bits (0o777) */
  perm: number
}

/** Every difference between a snapshot's listing and a restored tree (missing, extra, type, size, mode). */
export function treeDifferences(expected: TreeEntry[], actual: TreeEntry[]): string[] {
  const got = new Map(actual.map((e) => [e.path, e]))
  const out: string[] = []
  for (const e of expected) {
    const a = got.get(e.path)
    got.delete(e.path)
    if (!a) out.push(`${e.path}: missing`)
    else if (a.type !== e.type) out.push(`${e.path}: a ${a.type}, the snapshot has a ${e.type}`)
    else if (e.type === 'file' && a.size !== e.size) out.push(`${e.path}: ${a.size} bytes, the snapshot has ${e.size}`)
    else if (a.perm !== e.perm)
      out.push(`${e.path}: mode ${a.perm.toString(8)}, the snapshot has ${e.perm.toString(8)}`)
  }
  for (const p of got.keys()) out.push(`${p}: not in the snapshot`)
  return out
}

/** `--repo 1|2|all`, or the class's storage (primary = 1, secondary = 2), for every class given. */
export function reposForClasses(classes: FileClass[], flag: string | undefined): number[] {
  if (flag === 'all') return [1, 2]
  if (flag !== undefined) {
    if (flag !== '1' && flag !== '2') throw inputError('--repo', flag, 'must be 1, 2 or all', 'e.g. --repo 1')
    return [Number(flag)]
  }
  const storage = new Set(classes.flatMap((c) => c.storage))
  return [storage.has('primary') && 1, storage.has('secondary') && 2].filter((r): r is number => !!r)
}
