/**
 * Files, configuration and source backups of the application tree, as named steps per class and
 * repo: (source: bundle the repository with its whole history and verify the bundle, archive the
 * working tree without .git, node_modules, dist) -> restic snapshot tagged with the class ->
 * retention: snapshots past the class's retention are forgotten and pruned (never the newest).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { inputError } from '../../../../core/errors.ts'
import { join } from 'node:path'
import type { FileClass } from '../../../../core/policy.ts'
import { expiredSnapshots, reposForClasses } from '../../../../core/files.ts'
import { classTag } from '../../adapters/restic.ts'
import { sha256 } from '../exports/logical-export.ts'
import type { AuditLog } from '../../output/audit.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface FilesRecord {
  class: string
  kind: FileClass['kind']
  tier: number
  repo: number
  snapshot: string
  time: string
  files: number
  bytes: number
  /** what this snapshot added to the repository (deduplicated, compressed, encrypted) */
  addedBytes: number
  durationSeconds: number
  /** snapshots removed by the class's retention */
  pruned: number
  notes: string[]
}

export async function filesBackup(
  site: LocalSitePort,
  classes: FileClass[],
  repoFlag: string | undefined,
  audit: AuditLog,
): Promise<FilesRecord[]> {
  const missing = classes.flatMap((c) => c.paths).filter((p) => !existsSync(join(site.layout.app.root, p)))
  if (missing.length)
    throw inputError(
      'policy.files paths',
      missing,
      `not in the application tree ${site.layout.app.root}; nothing was backed up`,
      'npx zx runbooks/local.ts up generates the local tree; or fix the paths in policy.files',
    )
  site.files.ensurePassword()
  const records: FilesRecord[] = []
  for (const cls of classes) {
    const { cwd, paths, notes } =
      cls.kind === 'source'
        ? await audit.step(`bundle and archive ${cls.name}`, () => prepareSource(site, cls))
        : { cwd: site.layout.app.root, paths: cls.paths, notes: [] as string[] }
    for (const repo of reposForClasses([cls], repoFlag))
      records.push(
        await audit.step(
          `files backup ${cls.name} into repo${repo}`,
          () => snapshotInto(site, cls, repo, cwd, paths, notes),
          {
            class: cls.name,
            repo,
          },
        ),
      )
  }
  return records
}

async function snapshotInto(
  site: LocalSitePort,
  cls: FileClass,
  repo: number,
  cwd: string,
  paths: string[],
  notes: string[],
): Promise<FilesRecord> {
  const restic = site.files.restic(repo)
  await restic.ensureInit()
  const s = await restic.backup(cwd, paths, [classTag(cls.name), `kind=${cls.kind}`, `tier=${cls.tier}`])
  const snaps = await restic.snapshots(classTag(cls.name))
  const expired = expiredSnapshots(snaps, cls, new Date())
  await restic.forget(expired.map((x) => x.id))
  const mine = snaps.find((x) => x.id.startsWith(s.snapshot_id))
  return {
    class: cls.name,
    kind: cls.kind,
    tier: cls.tier,
    repo,
    snapshot: s.snapshot_id,
    time: mine?.time ?? new Date().toISOString(),
    files: s.total_files_processed,
    bytes: s.total_bytes_processed,
    addedBytes: s.data_added,
    durationSeconds: s.total_duration,
    pruned: expired.length,
    notes,
  }
}

/**
 * The source, as the guide backs it up: `git bundle create --all` (verified, its refs recorded)
 * and an archive of the working tree without .git, node_modules and dist, with their SHA-256.
 */
async function prepareSource(site: LocalSitePort, cls: FileClass) {
  const out = join(site.layout.stateDir, 'app-export')
  const dir = join(out, cls.name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const notes: string[] = []
  for (const p of cls.paths) {
    const src = join(site.layout.app.root, p)
    const name = p.replace(/\//g, '_')
    const bundle = join(dir, `${name}.bundle`)
    await site.run('git', ['bundle', 'create', bundle, '--all'], { cwd: src })
    await site.run('git', ['bundle', 'verify', bundle], { cwd: src })
    const heads = (await site.run('git', ['bundle', 'list-heads', bundle])).stdout
    writeFileSync(join(dir, `${name}.refs`), heads)
    const archive = join(dir, `${name}.tar.gz`)
    const excludes = ['.git', 'node_modules', 'dist'].map((e) => `--exclude=./${e}`)
    await site.run('tar', ['-czf', archive, ...excludes, '-C', src, '.'])
    writeFileSync(join(dir, 'SHA256SUMS'), `${await sha256(archive)}  ${name}.tar.gz\n`, { flag: 'a' })
    notes.push(
      `${p}: bundle verified, ${heads.trim().split('\n').length} refs; working tree archived without .git, node_modules, dist`,
    )
  }
  return { cwd: out, paths: [cls.name], notes }
}
