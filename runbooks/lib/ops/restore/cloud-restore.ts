/**
 * The cold site's path on a cloud stack: restore from the stack's vaults onto this machine, into
 * a new cluster (`restore.ts --stack prod|dr --inventory FILE --target T --into DIR`), with the
 * same targets and plan as locally (core/recovery.ts over the vaults' catalog). Every input is
 * read and checked before anything is written. The restored cluster runs with a configuration
 * of its own (the source's postgresql.conf names paths of its pods: TLS files, Patroni's hba),
 * listens on 127.0.0.1 (scram, the restored roles' passwords) and on a 0700 socket directory of
 * the site user (trust: only that user and root reach it), fetches WAL with the vault's
 * credentials from a 0600 file removed after promotion, and must accept a write before it counts.
 * The stack's cloud erasure ledger is read before anything is restored and re-applied before the
 * write check: nobody erased comes back with the restored data.
 */
import { removeScratch } from '../../adapters/scratch.ts'
import { inputError } from '../../../../core/errors.ts'
import type { Inventory } from '../../../../core/inventory.ts'
import { planRestore, type RestorePlan } from '../../../../core/recovery.ts'
import { describeTarget, type RecoveryTarget } from '../../../../core/recovery-target.ts'
import { log } from '../../output/log.ts'
import type { Runner } from '../../adapters/exec.ts'
import { query, type Conn } from '../../adapters/postgres.ts'
import { proveWritable } from '../write-check.ts'
import type { AuditLog } from '../../output/audit.ts'
import { cloudRepoAccess, cloudRepoConfig, cloudRepos, type CloudRepoConfig } from '../../sites/cloud/repos.ts'
import { cloudScratch, cloudScratchHost, cloudScratchPort, coldSocketDir } from '../../sites/cloud/scratch-host.ts'
import type { ScratchCluster } from '../../sites/ports.ts'
import { repoCatalog } from '../catalog/catalog.ts'
import { planText, requireNewDirectory, type RestoreReport } from './plan.ts'
import { insideDataDirectory } from '../../adapters/cluster-files.ts'
import { newClusterReport } from './new-cluster.ts'
import { restorePromoted } from './scratch-restore.ts'
import { reapplyStackErasures, stackErasures, type StackErasures } from '../erasure/cloud-erasure.ts'

export interface CloudRestoreOptions {
  target: RecoveryTarget
  repo?: number
  into: string | undefined
  port: number | undefined
  inPlace: boolean
  dryRun: boolean
}

/**
 * Validate, plan from the vaults, restore (unless a dry run). The vault credentials are on disk
 * (0600, the site user's) only while the restore and its recovery fetch WAL, removed after.
 */
export async function cloudRestore(
  run: Runner,
  inv: Inventory,
  o: CloudRestoreOptions,
  audit: AuditLog,
): Promise<{ plan: RestorePlan; dest: { into: string; port: number }; report?: RestoreReport }> {
  const dest = await validateCloudRestore(o) // every input, before anything is written
  const erasures = await audit.step('read the erasure ledger', () => stackErasures(inv))
  const repos = cloudRepoConfig(run, inv, cloudRepos(inv), { secretsOnDisk: !o.dryRun })
  try {
    const plan = await audit.step('plan restore', () => planCloudRestore(run, inv, o, repos), {
      target: describeTarget(o.target),
      repo: o.repo ?? 'auto',
    })
    if (o.dryRun) {
      audit.record('restore', 'dry-run', { target: describeTarget(o.target), repo: plan.repo, set: plan.backup.label })
      return { plan, dest }
    }
    log.info(planText(plan, dest.into, dest.port))
    return { plan, dest, report: await cloudRestoreNew(run, plan, dest, repos, audit, erasures) }
  } finally {
    removeScratch(repos.dir)
  }
}

/** Every input checked, nothing written yet. */
export async function validateCloudRestore(o: CloudRestoreOptions): Promise<{ into: string; port: number }> {
  const example = '--into /var/lib/postgresql/cold-restore'
  if (!o.into) throw inputError('--into', undefined, 'is required on a cloud stack (a new or empty directory)', example)
  requireNewDirectory(o.into, example)
  const clash = insideDataDirectory(o.into)
  if (clash) throw inputError('--into', o.into, clash, example)
  return { into: o.into, port: await cloudScratchPort(o.port) }
}

/** The plan from the vaults' catalog: the same choice of backup set and the same window checks as locally. */
export async function planCloudRestore(
  run: Runner,
  inv: Inventory,
  o: CloudRestoreOptions,
  c: CloudRepoConfig,
): Promise<RestorePlan> {
  const repos = cloudRepos(inv).filter((r) => o.repo === undefined || r.index === o.repo)
  if (!repos.length)
    throw inputError(
      '--repo',
      o.repo,
      `is not a cloud repo of stack ${inv.stack}`,
      `one of ${cloudRepos(inv)
        .map((r) => r.index)
        .join(', ')}`,
    )
  const catalogs = await Promise.all(repos.map((r) => repoCatalog(run, c.br, r.index, c.pg)))
  return planRestore(o.target, catalogs, [], o.repo)
}

/**
 * Restore into a new cluster on this machine, promoted and proven to take a write. The vault's
 * WAL comes with its credentials from the 0600 file beside its configuration.
 */
export async function cloudRestoreNew(
  run: Runner,
  plan: RestorePlan,
  dest: { into: string; port: number },
  c: CloudRepoConfig,
  audit: AuditLog,
  erasures: StackErasures,
): Promise<RestoreReport> {
  const t0 = Date.now()
  const cluster = cloudScratch(dest.into, dest.port)
  let erased = ''
  const check = async (conn: Conn & { database: string }) => {
    const app = { ...conn, database: await userDatabase(conn) }
    erased = await reapplyStackErasures(erasures, app, audit)
    await audit.step('verify the restored cluster takes a write', () => verifyRestored(app))
  }
  const what = 'pgbackrest restore (cloud repo)'
  const t = await restorePromoted(cloudScratchHost(run), cloudRepoAccess(c), plan, cluster, { audit, what, check })
  const timings = { ...t, untilFirstWriteSeconds: (Date.now() - t0) / 1000 }
  return cloudReport(plan, cluster, timings, erased)
}

function cloudReport(plan: RestorePlan, d: ScratchCluster, timings: Record<string, number>, erasures: string) {
  const connect = `sudo -u postgres psql -h ${coldSocketDir(d.port)} -p ${d.port} (or -h 127.0.0.1 with a restored role's password)`
  const r = newClusterReport(plan, d.dir, d.port, d.logFile, timings, connect)
  return { ...r, notes: [...r.notes, `server log: ${d.logFile}`, erasures] }
}

/** The application's database in a restored cluster: the first that is neither a template nor postgres. */
async function userDatabase(conn: { host: string; port: number; database: string }): Promise<string> {
  const [db] = await query<{ d: string }>(
    conn,
    `SELECT datname AS d FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1 LIMIT 1`,
  )
  return db?.d ?? 'postgres'
}

/** The restored cluster answers, holds user tables and accepts a write. */
export async function verifyRestored(conn: { host: string; port: number; database: string }): Promise<void> {
  const target = { ...conn, database: await userDatabase(conn) }
  const [t] = await query<{ n: number }>(
    target,
    `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
  )
  if (!t?.n) throw new Error(`the restored cluster holds no user table in ${target.database}`)
  await proveWritable(target, { note: 'restored into a new cluster' })
}
