/**
 * verify.ts on a cloud stack: every copy of the backups proven on this machine (issue 14, defect
 * 13: cross-region replication and Storage Transfer copy object by object, unordered, so a copy
 * can list files it does not hold yet; only a restore proves a copy). For each cloud repo:
 * pgBackRest `verify` (every backup and WAL file against its checksum), then the newest backup
 * restored from that repo alone into a scratch cluster (the cold site's path), promoted, taking
 * a write, and checked for structure (pg_amcheck, foreign keys, sequences, checksums); the
 * scratch cluster is removed. Exact equality with a reference needs a standby paused at the same
 * LSN, which the local site has and a cloud stack does not offer from here: not claimed.
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Inventory } from '../../../../core/inventory.ts'
import { planRestore } from '../../../../core/recovery.ts'
import type { Runner } from '../../adapters/exec.ts'
import { Postgres, postmasterPid } from '../../adapters/postgres.ts'
import type { AuditLog } from '../../output/audit.ts'
import { cloudRepoConfig, cloudRepos, type CloudRepoConfig } from '../catalog/cloud-catalog.ts'
import { repoCatalog } from '../catalog/catalog.ts'
import { cloudRestoreNew, coldSocketDir, userDatabase, validateCloudRestore } from '../restore/cloud-restore.ts'
import { checkStructure, structureProblems, type StructureOptions, type StructureReport } from './structure.ts'

export interface CloudProof {
  repo: number
  backup: string | null
  verdict: 'proven' | 'failed'
  reason: string
  checksums: { ok: boolean; problems: string[] }
  structure: StructureReport | null
  untilFirstWriteSeconds: number | null
}

export async function verifyCloudRepos(
  run: Runner,
  inv: Inventory,
  o: { repo?: number } & StructureOptions,
  audit: AuditLog,
): Promise<CloudProof[]> {
  const repos = cloudRepos(inv).filter((r) => o.repo === undefined || r.index === o.repo)
  const c = cloudRepoConfig(run, inv, repos, { secretsOnDisk: true })
  try {
    const out: CloudProof[] = []
    for (const r of repos) out.push(await proveRepo(run, inv, r.index, c, audit, o))
    return out
  } finally {
    rmSync(c.dir, { recursive: true, force: true })
  }
}

async function proveRepo(
  run: Runner,
  inv: Inventory,
  repo: number,
  c: CloudRepoConfig,
  audit: AuditLog,
  checks: StructureOptions,
) {
  const p: CloudProof = {
    repo,
    backup: null,
    verdict: 'failed',
    reason: '',
    checksums: { ok: false, problems: [] },
    structure: null,
    untilFirstWriteSeconds: null,
  }
  p.checksums = await audit.step(`pgbackrest verify repo${repo}`, () => c.br.verify(repo))
  if (!p.checksums.ok) {
    p.reason = `repo${repo} fails pgBackRest's verify: ${p.checksums.problems.slice(0, 3).join(' | ') || 'see its log'}`
    return p
  }
  const scratch = mkdtempSync('/var/tmp/labdojo-cloud-verify-')
  chmodSync(scratch, 0o755)
  const into = join(scratch, 'data')
  let port: number | undefined
  try {
    const catalog = await repoCatalog(run, c.br, repo, c.pg)
    const plan = planRestore({ kind: 'immediate' }, [catalog], [], repo)
    p.backup = plan.backup.label
    const dest = await validateCloudRestore({
      target: plan.target,
      into,
      port: undefined,
      inPlace: false,
      dryRun: false,
    })
    port = dest.port
    const report = await cloudRestoreNew(run, inv, plan, dest, c, audit)
    p.untilFirstWriteSeconds = report.timings.untilFirstWriteSeconds ?? null
    const conn = { host: coldSocketDir(dest.port), port: dest.port, database: 'postgres', user: 'postgres' }
    p.structure = await audit.step(`structure of ${plan.backup.label} from repo${repo}`, async () =>
      checkStructure(run, { ...conn, database: await userDatabase(conn) }, checks),
    )
    const problems = structureProblems(p.structure)
    p.verdict = problems.length ? 'failed' : 'proven'
    p.reason = problems.length
      ? `${plan.backup.label} from repo${repo} restores, but ${problems.join('; ')}`
      : `${plan.backup.label} from repo${repo}: every file matches its checksum, it restores on its own, promotes, takes a write, structure clean`
  } catch (e) {
    p.reason = `repo${repo} does not restore: ${(e as Error).message.split('\n')[0]}`
  } finally {
    if (postmasterPid(into)) await new Postgres(run).stop(into, 'immediate').catch(() => {})
    rmSync(scratch, { recursive: true, force: true })
    if (port !== undefined) rmSync(coldSocketDir(port), { recursive: true, force: true })
  }
  return p
}

export function renderCloudProofs(stack: string, proofs: CloudProof[]): string {
  return (
    proofs
      .map((p) => `${p.verdict === 'proven' ? 'PROVEN' : 'FAILED'}  ${stack} repo${p.repo}: ${p.reason}`)
      .join('\n') + '\n'
  )
}
