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
import { planRestore, type RestorePlan } from '../../../../core/recovery.ts'
import type { Runner } from '../../adapters/exec.ts'
import { postmasterPid, query, type Conn } from '../../adapters/postgres.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { cloudRepoConfig, cloudRepos, type CloudRepoConfig } from '../../sites/cloud/repos.ts'
import { repoCatalog } from '../catalog/catalog.ts'
import { cloudRestoreNew, userDatabase, validateCloudRestore, verifyRestored } from '../restore/cloud-restore.ts'
import { cloudScratch, cloudScratchHost } from '../../sites/cloud/scratch-host.ts'
import { inequality, ProofFailed, tableDifferences } from './compare.ts'
import { promoteHeld } from '../restore/cluster.ts'
import { fingerprint, type TableDifference } from './fingerprint.ts'
import { nextRecordArchived, pauseAt, resumeReplay } from './reference.ts'
import type { ReferenceSource } from '../../sites/ports.ts'
import { cloudReference } from '../../sites/cloud/reference.ts'
import { checkStructure, structureProblems, type StructureOptions, type StructureReport } from './structure.ts'

export interface CloudProof {
  repo: number
  backup: string | null
  verdict: 'proven' | 'failed'
  reason: string
  checksums: { ok: boolean; problems: string[] }
  /** the standby compared against, and where (null: none, structure only) */
  reference: { node: string; lsn: string } | null
  tables: number
  rows: number
  differences: TableDifference[]
  structure: StructureReport | null
  untilFirstWriteSeconds: number | null
}

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
  o: CloudVerifyOptions,
  audit: AuditLog,
): Promise<CloudProof[]> {
  const node = referenceNode(inv, o.reference)
  const repos = cloudRepos(inv).filter((r) => o.repo === undefined || r.index === o.repo)
  if (!node)
    log.warn(
      `stack ${inv.stack} has no warm standby: the restores are checked for structure, not compared row by row (--reference NODE names a standby)`,
    )
  const c = cloudRepoConfig(run, inv, repos, { secretsOnDisk: true })
  try {
    const ref = node ? await cloudReference(inv, node, c, o.reference !== undefined) : undefined
    const out: CloudProof[] = []
    for (const r of repos) out.push(await proveRepo(run, inv, r.index, c, audit, { ...o, ref }))
    return out
  } finally {
    rmSync(c.dir, { recursive: true, force: true })
  }
}

const emptyProof = (repo: number): CloudProof => ({
  repo,
  backup: null,
  verdict: 'failed',
  reason: '',
  checksums: { ok: false, problems: [] },
  reference: null,
  tables: 0,
  rows: 0,
  differences: [],
  structure: null,
  untilFirstWriteSeconds: null,
})

interface Scratch {
  into: string
  port: number
  conn: Conn & { database: string }
}

async function proveRepo(
  run: Runner,
  inv: Inventory,
  repo: number,
  c: CloudRepoConfig,
  audit: AuditLog,
  o: StructureOptions & { ref?: ReferenceSource },
): Promise<CloudProof> {
  const p = emptyProof(repo)
  p.checksums = await audit.step(`pgbackrest verify repo${repo}`, () => c.br.verify(repo))
  if (!p.checksums.ok) {
    p.reason = `repo${repo} fails pgBackRest's verify: ${p.checksums.problems.slice(0, 3).join(' | ') || 'see its log'}`
    return p
  }
  const base = mkdtempSync('/var/tmp/labdojo-cloud-verify-')
  chmodSync(base, 0o755)
  const host = cloudScratchHost(run)
  let s: Scratch | undefined
  try {
    const catalog = await repoCatalog(run, c.br, repo, c.pg)
    const plan = planRestore({ kind: 'immediate' }, [catalog], [], repo)
    p.backup = plan.backup.label
    const dest = await validateCloudRestore({
      target: plan.target,
      into: join(base, 'data'),
      port: undefined,
      inPlace: false,
      dryRun: false,
    })
    s = { into: dest.into, port: dest.port, conn: host.conn(cloudScratch(dest.into, dest.port)) }
    const t0 = Date.now()
    if (o.ref) await compareAtReference(run, inv, plan, s, c, audit, p, o.ref)
    else await cloudRestoreNew(run, plan, dest, c, audit)
    p.untilFirstWriteSeconds = (Date.now() - t0) / 1000
    p.structure = await audit.step(`structure of ${plan.backup.label} from repo${repo}`, async () =>
      checkStructure(run, { ...s!.conn, database: await userDatabase(s!.conn) }, o),
    )
    const problems = structureProblems(p.structure)
    p.verdict = problems.length ? 'failed' : 'proven'
    p.reason = problems.length
      ? `${plan.backup.label} from repo${repo} restores, but ${problems.join('; ')}`
      : provenSentence(p)
  } catch (e) {
    p.reason = e instanceof ProofFailed ? e.message : `repo${repo} does not restore: ${firstLine(e)}`
  } finally {
    if (s && postmasterPid(s.into)) await host.pg.stop(s.into, 'immediate').catch(() => {})
    rmSync(base, { recursive: true, force: true })
    if (s) host.release?.(cloudScratch(s.into, s.port))
  }
  return p
}

function provenSentence(p: CloudProof): string {
  const equal = p.reference
    ? `restores on its own to ${p.reference.lsn} equal to ${p.reference.node} there (${p.tables} tables, ${p.rows} rows)`
    : 'restores on its own (not compared: no reference standby)'
  return `${p.backup} from repo${p.repo}: every file matches its checksum, it ${equal}, promotes, takes a write, structure clean`
}

/**
 * The exact comparison: the reference paused at X and read while the backup is restored and held
 * at X (stopping before the record that starts there); the restored rows read; the reference
 * resumed (always); on equality, the restore promoted and a write taken. A difference fails the
 * proof (ProofFailed, its sentence the reason).
 */
async function compareAtReference(
  run: Runner,
  inv: Inventory,
  plan: RestorePlan,
  s: Scratch,
  c: CloudRepoConfig,
  audit: AuditLog,
  p: CloudProof,
  src: ReferenceSource,
): Promise<void> {
  const ref = await pauseAt(src, plan.backup.lsnStop)
  p.reference = { node: src.name, lsn: ref.lsn }
  let reached: string
  try {
    const held = heldPlan(plan, ref.lsn, ref.lastCommit)
    const [reference] = await Promise.all([
      fingerprint(src.conn),
      (async () => {
        await nextRecordArchived(src, plan.repo, ref.timeline, ref.lsn)
        await cloudRestoreNew(run, held, s, c, audit, { hold: true })
      })(),
    ])
    const db = { ...s.conn, database: await userDatabase(s.conn) }
    reached = (await query<{ lsn: string }>(db, `SELECT pg_last_wal_replay_lsn()::text AS lsn`))[0]!.lsn
    const restored = await fingerprint(db)
    p.tables = restored.tables.length
    p.rows = restored.tables.reduce((a, x) => a + x.rows, 0)
    p.differences = await tableDifferences(src.conn, db, reference, restored)
  } finally {
    await resumeReplay(src.conn)
  }
  const unequal = inequality(src.name, reached, ref.lsn, p.differences)
  if (unequal) throw new ProofFailed(`${plan.backup.label} from repo${plan.repo} ${unequal}`)
  await promoteHeld(s.conn)
  await audit.step('verify the restored cluster takes a write', () => verifyRestored(s.conn))
}

/**
 * The restore held at exactly X. The test suite's fault injection (LABDOJO_FAULT_PROOF=
 * commit-short) stops it just before the reference's last commit instead, as a restore that came
 * up a commit short would, so that the comparison is seen to catch it.
 */
function heldPlan(plan: RestorePlan, lsn: string, lastCommit: string | null): RestorePlan {
  const short = process.env.LABDOJO_FAULT_PROOF === 'commit-short' && lastCommit
  if (short) log.warn(`FAULT INJECTION (LABDOJO_FAULT_PROOF=commit-short): restoring to just before ${lastCommit}`)
  // pgBackRest's time format (as recovery-target.ts writes it), to the microsecond
  const time = short ? lastCommit.replace('T', ' ').replace('Z', '+00') : ''
  const target = short ? ['--type=time', `--target=${time}`] : ['--type=lsn', `--target=${lsn}`]
  return {
    ...plan,
    target: { kind: 'lsn', lsn },
    targetArgs: [...target, '--target-exclusive', '--target-action=pause'],
  }
}

export function renderCloudProofs(stack: string, proofs: CloudProof[]): string {
  return (
    proofs
      .map((p) => `${p.verdict === 'proven' ? 'PROVEN' : 'FAILED'}  ${stack} repo${p.repo}: ${p.reason}`)
      .join('\n') + '\n'
  )
}
