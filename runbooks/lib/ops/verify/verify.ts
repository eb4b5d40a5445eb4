/**
 * verify.ts: which backups to prove (a label, the newest, or every one without a proof), from
 * which repos, one proof each (prove.ts), every proof appended to the evidence ledger.
 */
import { inputError } from '../../../../core/errors.ts'
import type { CatalogBackup, RepoCatalog } from '../../../../core/recovery.ts'
import type { AuditLog } from '../../output/audit.ts'
import { readEvidence } from '../../output/evidence.ts'
import { recordEvidence } from '../evidence/ledger.ts'
import { repoCatalog } from '../catalog/catalog.ts'
import { proveBackup, type Proof, type ProofOptions } from './prove.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export type BackupSelector = { kind: 'latest' } | { kind: 'pending' } | { kind: 'label'; label: string }

export function parseBackupSelector(raw: string | undefined): BackupSelector {
  const v = raw ?? 'latest'
  if (v === 'latest' || v === 'pending') return { kind: v }
  if (/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(v)) return { kind: 'label', label: v }
  throw inputError(
    '--backup',
    v,
    'must be latest, pending or a backup label',
    'e.g. --backup 20261127-120437F (catalog.ts lists them)',
  )
}

/** Every repo's catalog, read before anything is paused or restored. */
export async function readCatalogs(site: LocalSitePort, repos: number[]): Promise<RepoCatalog[]> {
  const pgPath = site.layout.node(site.state().primary).data
  return Promise.all(repos.map((r) => repoCatalog(site.run, site.br, r, pgPath, () => site.repoDown(r))))
}

/** The backups to prove, per repo; a label found in no repo is bad input (exit 2, nothing done). */
export function selectBackups(catalogs: RepoCatalog[], sel: BackupSelector, ledgerFile: string): CatalogBackup[] {
  const usable = (c: RepoCatalog) => c.backups.filter((b) => !b.error)
  if (sel.kind === 'latest') return catalogs.flatMap((c) => usable(c).slice(-1))
  if (sel.kind === 'pending') {
    const proven = new Set(
      readEvidence(ledgerFile)
        .filter((r) => r.kind === 'proof')
        .map((r) => `${r.backup}@${r.repo}`),
    )
    return catalogs.flatMap((c) => usable(c).filter((b) => !proven.has(`${b.label}@${b.repo}`)))
  }
  const found = catalogs.flatMap((c) => usable(c).filter((b) => b.label === sel.label))
  if (!found.length) {
    const labels = [...new Set(catalogs.flatMap((c) => usable(c).map((b) => b.label)))]
    throw inputError(
      '--backup',
      sel.label,
      `no such backup in repo ${catalogs.map((c) => c.repo).join(', ')}`,
      `one of ${labels.join(', ') || '(none: take one with backup.ts)'}`,
    )
  }
  return found
}

export async function verifyBackups(
  site: LocalSitePort,
  catalogs: RepoCatalog[],
  backups: CatalogBackup[],
  o: ProofOptions,
  audit: AuditLog,
): Promise<Proof[]> {
  const proofs: Proof[] = []
  for (const b of backups) {
    const catalog = catalogs.find((c) => c.repo === b.repo)!
    const proof = await proveBackup(site, b, catalog.latest ?? null, o, audit)
    proof.ledger = await recordEvidence(site, { kind: 'proof', ...proofRecord(proof) })
    proofs.push(proof)
  }
  return proofs
}

/** What the ledger keeps of a proof: enough to audit it, no more. */
function proofRecord(p: Proof): Record<string, unknown> & { at: string } {
  return {
    at: p.at,
    backup: p.backup,
    backupType: p.backupType,
    repo: p.repo,
    verdict: p.verdict,
    reason: p.reason,
    lsn: p.lsn,
    reference: p.reference?.node ?? null,
    digest: p.digest,
    tables: p.tables,
    rows: p.rows,
    objectives: p.objectives,
    // an unsynced scratch restore's RTO is a lower bound
    synced: p.scratch.synced,
    timings: p.timings,
  }
}

/** A repo that could not be listed: nothing in it was proven, and that is a failure, never "nothing to prove". */
export interface UnlistedRepo {
  repo: number
  reason: string
}

export function unlistedRepos(catalogs: RepoCatalog[]): UnlistedRepo[] {
  return catalogs
    .filter((c) => !c.reachable)
    .map((c) => ({
      repo: c.repo,
      reason: `repo${c.repo} cannot be listed, so none of its backups was proven: ${c.error}`,
    }))
}

export function renderProofs(proofs: Proof[], unlisted: UnlistedRepo[] = []): string {
  const lines = [
    ...unlisted.map((u) => `FAILED ${u.reason}\n`),
    ...proofs.map((p) => `${p.verdict === 'proven' ? 'PROVEN' : 'FAILED'} ${p.reason}\n`),
  ]
  if (!lines.length) return 'nothing to prove: every backup in the chosen repos has a proof\n'
  return lines.join('')
}
