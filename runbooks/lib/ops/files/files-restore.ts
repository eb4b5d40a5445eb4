/**
 * Restore a data class of the application tree, as named steps: pick the newest snapshot at or
 * before the time (repo1, else repo2) -> restore it beside its destination (restic reads every
 * file back against its hashes) -> compare the restored tree with the snapshot, file by file
 * (type, size, mode) -> for source, check the archive's SHA-256 and the bundle, and rebuild the
 * checkout (the archive's files, the bundle's history) -> put it in place: a new directory, or
 * in place by exchanging directories, the old tree kept (never deleted, never overwritten).
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { FileClass } from '../../../../core/policy.ts'
import { snapshotAt, treeDifferences, type TreeEntry } from '../../../../core/files.ts'
import { inputError, firstLine } from '../../../../core/errors.ts'
import { classTag, type Restic, type Snapshot } from '../../adapters/restic.ts'
import { stamp } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { sha256 } from '../exports/logical-export.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface FilesRestoreOptions {
  at?: Date
  repo?: number
  /** a new directory: each of the class's paths lands under it */
  into?: string
  inPlace: boolean
}

export interface FilesRestoreReport {
  class: string
  repo: number
  snapshot: string
  time: string
  files: number
  /** where each path now is */
  placed: string[]
  /** in place: where the old trees are kept */
  kept: string[]
  notes: string[]
}

/** The snapshot to restore: repo1's newest at or before the time, else repo2's (said in the notes). */
async function choose(site: LocalSitePort, cls: FileClass, o: FilesRestoreOptions) {
  const repos = o.repo ? [o.repo] : [1, 2]
  const why: string[] = []
  for (const repo of repos) {
    const restic = site.files.restic(repo)
    const snaps = await restic.snapshots(classTag(cls.name)).catch((e: Error) => {
      why.push(`repo${repo}: ${firstLine(e)}`)
      return [] as Snapshot[]
    })
    const snap = snapshotAt(snaps, o.at)
    if (snap) return { restic, repo, snap, notes: why.map((w) => `not from ${w}`) }
    if (!why.some((w) => w.startsWith(`repo${repo}`)))
      why.push(`repo${repo}: no ${cls.name} snapshot${o.at ? ` at or before ${o.at.toISOString()}` : ''}`)
  }
  throw inputError(
    '--at',
    o.at?.toISOString() ?? 'latest',
    `no ${cls.name} snapshot to restore (${why.join('; ')})`,
    `catalog.ts lists the snapshots; take one with backup.ts --type ${cls.kind}`,
  )
}

export async function restoreFiles(
  site: LocalSitePort,
  cls: FileClass,
  o: FilesRestoreOptions,
  audit: AuditLog,
): Promise<FilesRestoreReport> {
  if (o.into) {
    const clash = site.guardedPathClash(o.into, [site.layout.scratchDir, 'its scratch area'], {
      also: [[site.layout.app.root, 'the live application tree (restore there with --in-place)']],
    })
    if (clash)
      throw inputError(
        '--into',
        o.into,
        clash,
        `pass a new directory outside the site, e.g. --into /var/tmp/restored-${cls.name}`,
      )
  }
  site.files.ensurePassword()
  const { restic, repo, snap, notes } = await choose(site, cls, o)
  const at = stamp()
  const dest = o.into ?? site.layout.app.root
  const names = cls.paths
  if (o.into) requireFreeTargets(o.into, names)
  const staging = join(o.into ? join(o.into, '..') : site.layout.app.root, `.restoring-${cls.name}-${at}`)
  try {
    const files = await audit.step(`restore ${cls.name} snapshot ${snap.short_id} (repo${repo})`, () =>
      restoreVerified(restic, snap, staging),
    )
    if (cls.kind === 'source')
      await audit.step(`rebuild the ${cls.name} checkout`, () => rebuildSource(site, cls, staging, notes))
    const { placed, kept } = await audit.step(o.inPlace ? `swap ${cls.name} in place` : `place ${cls.name}`, async () =>
      place(staging, dest, names, o.inPlace, at),
    )
    return { class: cls.name, repo, snapshot: snap.short_id, time: snap.time, files, placed, kept, notes }
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
}

function requireFreeTargets(into: string, names: string[]): void {
  const taken = names.filter((n) => existsSync(join(into, n)))
  if (taken.length)
    throw inputError(
      '--into',
      into,
      `already holds ${taken.join(', ')}`,
      'name a new or empty directory, or use --in-place',
    )
}

/** Restore, then compare the tree with the snapshot's listing: every entry's type, size and mode. */
export async function restoreVerified(restic: Restic, snap: Snapshot, staging: string): Promise<number> {
  rmSync(staging, { recursive: true, force: true })
  await restic.restore(snap.id, staging)
  const expected: TreeEntry[] = (await restic.ls(snap.id)).map((n) => ({
    path: n.path,
    type: n.type,
    size: n.size ?? 0,
    perm: n.mode & 0o777,
  }))
  const diffs = treeDifferences(expected, walk(staging))
  if (diffs.length)
    throw new Error(
      `the restored tree differs from snapshot ${snap.short_id} (${diffs.length}): ${diffs.slice(0, 5).join('; ')}`,
    )
  return expected.filter((e) => e.type === 'file').length
}

/** A directory tree as the snapshot lists it: paths from its root, type, size, permission bits. */
export function walk(root: string, rel = ''): TreeEntry[] {
  const out: TreeEntry[] = []
  for (const name of readdirSync(join(root, rel))) {
    const p = `${rel}/${name}`
    const st = lstatSync(join(root, p))
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file'
    out.push({ path: p, type, size: type === 'file' ? st.size : 0, perm: st.mode & 0o777 })
    if (type === 'dir') out.push(...walk(root, p))
  }
  return out
}

/** The source snapshot holds a bundle and an archive per path: check both, and make the checkout again. */
async function rebuildSource(site: LocalSitePort, cls: FileClass, staging: string, notes: string[]): Promise<void> {
  const exported = join(staging, '.export') // the snapshot's export directory, out of the checkout's way
  renameSync(join(staging, cls.name), exported)
  const sums = readFileSync(join(exported, 'SHA256SUMS'), 'utf8')
  for (const p of cls.paths) {
    const name = p.replace(/\//g, '_')
    const archive = join(exported, `${name}.tar.gz`)
    const want = sums
      .split('\n')
      .find((l) => l.endsWith(`  ${name}.tar.gz`))
      ?.split(' ')[0]
    const got = await sha256(archive)
    if (want !== got) throw new Error(`${name}.tar.gz: SHA-256 ${got}, recorded ${want ?? 'nothing'}`)
    const tree = join(staging, p)
    mkdirSync(tree, { recursive: true })
    await site.run('tar', ['-xzf', archive, '-C', tree])
    const bundle = join(exported, `${name}.bundle`)
    const clone = join(staging, `${name}.git-clone`)
    await site.run('git', ['clone', '-q', '--no-checkout', bundle, clone])
    await site.run('git', ['bundle', 'verify', bundle], { cwd: clone })
    renameSync(join(staging, `${name}.git-clone`, '.git'), join(tree, '.git'))
    await site.run('git', ['reset', '-q'], { cwd: tree }) // the index from HEAD; the files are the archive's
    notes.push(
      `${p}: archive SHA-256 and bundle verified; checkout rebuilt (history from the bundle, files from the archive)`,
    )
  }
  rmSync(exported, { recursive: true, force: true })
  for (const f of readdirSync(staging))
    if (f.endsWith('.git-clone')) rmSync(join(staging, f), { recursive: true, force: true })
}

/** Into a new directory, or in place: the live tree moves aside (kept), the verified one takes its name. */
function place(staging: string, dest: string, names: string[], inPlace: boolean, at: string) {
  mkdirSync(dest, { recursive: true })
  const placed: string[] = []
  const kept: string[] = []
  for (const n of names) {
    const target = join(dest, n)
    mkdirSync(join(target, '..'), { recursive: true })
    if (inPlace && existsSync(target)) {
      renameSync(target, `${target}.replaced-${at}`)
      kept.push(`${target}.replaced-${at}`)
    }
    renameSync(join(staging, n), target)
    placed.push(target)
  }
  return { placed, kept }
}
