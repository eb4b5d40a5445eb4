/**
 * verify.ts on a cloud stack: every copy of the backups proven on this machine (issue 14, defect
 * 13: cross-region replication and Storage Transfer copy object by object, unordered, so a copy
 * can list files it does not hold yet; only a restore proves a copy). For each cloud repo:
 * pgBackRest `verify` (every backup and WAL file against its checksum), then the newest backup
 * restored from that repo alone into a scratch cluster (the cold site's path). With a reference
 * standby (the warm site's, or the one `--reference` names), the same exact equality as a local
 * proof: the standby paused at an LSN X it has replayed, the restore held at X, every table
 * compared, the standby resumed. Then the restore promotes, takes a write and is checked for
 * structure (pg_amcheck, foreign keys, sequences, checksums); the scratch cluster is removed.
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { inputError, firstLine } from '../../../../core/errors.ts'
import type { Inventory, PgNode } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { planRestore } from '../../../../core/recovery.ts'
import type { Runner } from '../../adapters/exec.ts'
import { postmasterPid } from '../../adapters/postgres.ts'
import { removeScratch } from '../../adapters/scratch.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { cloudRepoAccess, cloudRepoConfig, cloudRepos, type CloudRepoConfig } from '../../sites/cloud/repos.ts'
import { repoCatalog } from '../catalog/catalog.ts'
import { cloudScratch, cloudScratchHost, cloudScratchPort } from '../../sites/cloud/scratch-host.ts'
import type { ReferenceSource } from '../../sites/ports.ts'
import { cloudReference } from '../../sites/cloud/reference.ts'
import { assembleProof, judgeProof, measureProof, type Proof, type ProofBase } from './proof.ts'
import type { StructureOptions } from './structure.ts'

export interface CloudVerifyOptions extends StructureOptions {
  repo?: number
  /** the standby to compare against (default: a standby of the warm site, if the inventory has one) */
  reference?: string
}

/** The reference standby: the one named, or the warm site's; none when the stack has no warm site. */
export function referenceNode(inv: Inventory, name?: string): PgNode | undefined {
  const standbys = inv.nodes.filter((n) => n.role === 'standby')
  if (name === undefined) return standbys.find((n) => n.site === 'warm')
  const node = standbys.find((n) => n.name === name)
  if (!node)
    throw inputError(
      '--reference',
      name,
      `must name a standby of stack ${inv.stack} (${standbys.map((n) => n.name).join(', ') || 'it has none'})`,
      "pass one of them; its replay is paused while the proof reads it (a hot standby's data-loss window grows meanwhile)",
    )
  return node
}

export async function verifyCloudRepos(
  run: Runner,
  inv: Inventory,
  policy: DrPolicy,
  o: CloudVerifyOptions,
  audit: AuditLog,
): Promise<Proof[]> {
  const node = referenceNode(inv, o.reference)
  const repos = cloudRepos(inv).filter((r) => o.repo === undefined || r.index === o.repo)
  if (!node)
    log.warn(
      `stack ${inv.stack} has no warm standby: the restores are checked for structure, not compared row by row (--reference NODE names a standby)`,
    )
  const c = cloudRepoConfig(run, inv, repos, { secretsOnDisk: true })
  try {
    const ref = node ? await cloudReference(inv, node, c, o.reference !== undefined) : undefined
    const out: Proof[] = []
    for (const r of repos) out.push(await proveRepo(run, inv, r.index, c, audit, { ...o, ref, tier1: policy.tiers[1] }))
    return out
  } finally {
    removeScratch(c.dir)
  }
}

/**
 * One vault's proof: pgBackRest's verify of every file, then its newest backup proven on this
 * machine (ops/verify/proof.ts) in a scratch cluster removed after, whatever happened.
 */
async function proveRepo(
  run: Runner,
  inv: Inventory,
  repo: number,
  c: CloudRepoConfig,
  audit: AuditLog,
  o: StructureOptions & { ref?: ReferenceSource; tier1: { rto: number; rpo: number } },
): Promise<Proof> {
  const port = await cloudScratchPort(undefined) // before anything is made: no free port, nothing to remove
  const work = mkdtempSync('/var/tmp/labdojo-cloud-verify-')
  chmodSync(work, 0o755)
  const host = cloudScratchHost(run)
  const cluster = cloudScratch(join(work, 'data'), port)
  const scratch = { ...cluster, conn: { ...host.conn(cluster), database: inv.endpoint.database }, checks: o }
  const base: ProofBase = { backup: { label: null, type: null, repo }, tier1: o.tier1, scratch: cluster, kept: false }
  try {
    const checksums = await audit.step(`pgbackrest verify repo${repo}`, () => c.br.verify(repo))
    base.checksums = checksums
    if (!checksums.ok) {
      const why = checksums.problems.slice(0, 3).join(' | ') || 'see its log'
      return assembleProof(base, null, `repo${repo} fails pgBackRest's verify: ${why}`)
    }
    const { backup } = planRestore({ kind: 'immediate' }, [await repoCatalog(run, c.br, repo, c.pg)], [], repo)
    base.backup = { label: backup.label, type: backup.type, repo }
    const m = await measureProof({ run, host, repos: cloudRepoAccess(c), backup, scratch, reference: o.ref, audit })
    return assembleProof(base, m, judgeProof(m, base))
  } catch (e) {
    return assembleProof(base, null, `repo${repo} does not restore: ${firstLine(e)}`)
  } finally {
    if (postmasterPid(scratch.dir)) await host.pg.stop(scratch.dir, 'immediate').catch(() => {})
    rmSync(work, { recursive: true, force: true })
    host.release?.(cluster)
  }
}

export function renderCloudProofs(stack: string, proofs: Proof[]): string {
  return (
    proofs
      .map((p) => `${p.verdict === 'proven' ? 'PROVEN' : 'FAILED'}  ${stack} repo${p.repo}: ${p.reason}`)
      .join('\n') + '\n'
  )
}
