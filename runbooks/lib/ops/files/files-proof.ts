/**
 * Proof of the application tree's snapshots, per repo: `restic check` reads a share of the
 * repository's data back, then the newest snapshot of every class is restored into scratch and
 * compared with its listing file by file (restic reads each file back against its hashes; type,
 * size and mode are compared here). Each proof is a record in the evidence ledger.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { FileClass } from '../../../../core/policy.ts'
import { reposForClasses, snapshotAt } from '../../../../core/files.ts'
import { classTag } from '../../adapters/restic.ts'
import { stamp } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { recordEvidence } from '../evidence/ledger.ts'
import { restoreVerified } from './files-restore.ts'
import { firstLine } from '../../../../core/errors.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface FilesProof {
  class: string
  repo: number
  snapshot: string | null
  verdict: 'proven' | 'failed'
  files: number
  reason: string
  seconds: number
}

/** The share of the repository's data `restic check` reads back each time. */
export const READ_DATA_SUBSET = '10%'

export async function proveFiles(
  site: LocalSitePort,
  classes: FileClass[],
  repos: number[] | undefined,
  audit: AuditLog,
): Promise<FilesProof[]> {
  site.files.ensurePassword()
  const proofs: FilesProof[] = []
  const wanted = repos ?? [1, 2]
  for (const repo of wanted) {
    const mine = classes.filter((c) => reposForClasses([c], undefined).includes(repo))
    if (!mine.length) continue
    const restic = site.files.restic(repo)
    const checked = await audit
      .step(`restic check repo${repo} (read ${READ_DATA_SUBSET} of the data)`, () => restic.check(READ_DATA_SUBSET))
      .then(() => undefined)
      .catch((e: Error) => `restic check of repo${repo} failed: ${e.message.split('\n').slice(0, 3).join(' ')}`)
    for (const cls of mine) proofs.push(await proveClass(site, cls, repo, checked, audit))
  }
  return proofs
}

async function proveClass(
  site: LocalSitePort,
  cls: FileClass,
  repo: number,
  checkFailed: string | undefined,
  audit: AuditLog,
): Promise<FilesProof> {
  const t0 = Date.now()
  const restic = site.files.restic(repo)
  const snap = snapshotAt(await restic.snapshots(classTag(cls.name)).catch(() => []))
  const scratch = join(site.layout.scratchDir, `files-proof-${cls.name}-${repo}-${stamp()}`)
  let files = 0
  let reason = checkFailed ?? (snap ? '' : `no ${cls.name} snapshot in repo${repo}`)
  if (!reason && snap)
    try {
      files = await audit.step(`prove ${cls.name} snapshot ${snap.short_id} (repo${repo})`, () =>
        restoreVerified(restic, snap, scratch),
      )
    } catch (e) {
      reason = firstLine(e)
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
  const proof: FilesProof = {
    class: cls.name,
    repo,
    snapshot: snap?.short_id ?? null,
    verdict: reason ? 'failed' : 'proven',
    files,
    reason:
      reason ||
      `restored ${files} files, each read back against its hash, every entry's type, size and mode equal to the snapshot`,
    seconds: (Date.now() - t0) / 1000,
  }
  await recordEvidence(site, { kind: 'files-proof', at: new Date().toISOString(), ...proof })
  return proof
}
