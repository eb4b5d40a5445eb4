/**
 * The cold site's path on a cloud stack: restore from the stack's vaults onto this machine, into
 * a new cluster (`restore.ts --stack prod|dr --inventory FILE --target T --into DIR`), with the
 * same targets and plan as locally (core/recovery.ts over the vaults' catalog). Every input is
 * read and checked before anything is written. The restored cluster runs with a configuration
 * of its own (the source's postgresql.conf names paths of its pods: TLS files, Patroni's hba),
 * listens on 127.0.0.1 (scram, the restored roles' passwords) and on a 0700 socket directory of
 * the site user (trust: only that user and root reach it), fetches WAL with the vault's
 * credentials from a 0600 file removed after promotion, and must accept a write before it counts.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inputError } from '../../../../core/errors.ts'
import type { Inventory } from '../../../../core/inventory.ts'
import { planRestore, type RestorePlan } from '../../../../core/recovery.ts'
import { describeTarget, type RecoveryTarget } from '../../../../core/recovery-target.ts'
import { log } from '../../output/log.ts'
import type { Runner } from '../../adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import { portFree } from '../../adapters/net.ts'
import { logTail } from '../../adapters/cluster-files.ts'
import { Postgres, postmasterPid, probe, query } from '../../adapters/postgres.ts'
import { proveWritable } from '../write-check.ts'
import type { AuditLog } from '../../output/audit.ts'
import { cloudRepoConfig, cloudRepos, type CloudRepoConfig } from '../catalog/cloud-catalog.ts'
import { repoCatalog } from '../catalog/catalog.ts'
import { emptyDir, RecoveryStopped, recoveryFailureIn, replayPaused, waitForRecovery } from './cluster.ts'
import { planText, requireNewDirectory, type RestoreReport } from './plan.ts'
import { insideDataDirectory } from '../../adapters/cluster-files.ts'
import { newClusterReport } from './new-cluster.ts'

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
    return { plan, dest, report: await cloudRestoreNew(run, inv, plan, dest, repos, audit) }
  } finally {
    rmSync(repos.dir, { recursive: true, force: true })
  }
}

/** The first free port of the range a cloud restore takes by default. */
export const CLOUD_RESTORE_PORTS = { first: 55432, last: 55531 }

/** Every input checked, nothing written yet. */
export async function validateCloudRestore(o: CloudRestoreOptions): Promise<{ into: string; port: number }> {
  const example = '--into /var/lib/postgresql/cold-restore'
  if (!o.into) throw inputError('--into', undefined, 'is required on a cloud stack (a new or empty directory)', example)
  requireNewDirectory(o.into, example)
  const clash = insideDataDirectory(o.into)
  if (clash) throw inputError('--into', o.into, clash, example)
  if (o.port !== undefined) {
    if (!(await portFree(o.port)))
      throw inputError('--port', o.port, `127.0.0.1:${o.port} is already in use`, 'pick a free port')
    return { into: o.into, port: o.port }
  }
  for (let p = CLOUD_RESTORE_PORTS.first; p <= CLOUD_RESTORE_PORTS.last; p++)
    if (await portFree(p)) return { into: o.into, port: p }
  throw inputError(
    '--port',
    undefined,
    `every port ${CLOUD_RESTORE_PORTS.first}..${CLOUD_RESTORE_PORTS.last} is taken`,
    'pass --port',
  )
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

/** A configuration of the restored cluster's own: nothing of the source's pods is needed to start. */
function writeLocalConfig(dir: string, port: number, socketDir: string): string {
  const file = join(dir, 'labdojo-restore.conf')
  writeFileSync(
    file,
    [
      `# written by labdojo-dr restore.ts: this machine's settings (the source's postgresql.conf names its pods' paths)`,
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${socketDir}'`,
      `hba_file = '${join(dir, 'pg_hba.conf')}'`,
      `ident_file = '${join(dir, 'pg_ident.conf')}'`,
      `archive_mode = off`,
      `ssl = off`,
      `hot_standby = on`,
      `max_connections = 100`,
      `cluster_name = 'cold-restore-${port}'`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  )
  writeFileSync(join(dir, 'pg_hba.conf'), `local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n`, {
    mode: 0o600,
  })
  writeFileSync(join(dir, 'pg_ident.conf'), '', { mode: 0o600 })
  for (const f of [file, join(dir, 'pg_hba.conf'), join(dir, 'pg_ident.conf')]) giveToSiteUser(f)
  return file
}

export async function cloudRestoreNew(
  run: Runner,
  inv: Inventory,
  plan: RestorePlan,
  dest: { into: string; port: number },
  c: CloudRepoConfig,
  audit: AuditLog,
  o: { hold?: boolean } = {},
): Promise<RestoreReport> {
  const t0 = Date.now()
  const { into: dir, port } = dest
  const created = !existsSync(dir)
  mkdirForSiteUser(dir, 0o700)
  const socketDir = coldSocketDir(port)
  mkdirForSiteUser(socketDir, 0o700)
  const logFile = join(dir, 'restore.log')
  const pg = new Postgres(run)
  const timings: Record<string, number> = {}
  try {
    await restoreAndStart(pg, inv, plan, { dir, port, socketDir, logFile }, c, audit)
    timings.restoreSeconds = (Date.now() - t0) / 1000
    const conn = { host: socketDir, port, database: 'postgres' }
    // held: paused at the target (--target-action=pause), read-only, for the caller to compare
    await waitForRecovery(
      o.hold ? 'the restored cluster to pause at its target' : 'the restored cluster to finish recovery and promote',
      { dir, logFile, repo: plan.repo },
      o.hold ? () => replayPaused(conn) : async () => (await probe('restore', conn)).inRecovery === false,
    )
    timings.recoverySeconds = (Date.now() - t0) / 1000 - timings.restoreSeconds
    if (!o.hold) {
      await audit.step('verify the restored cluster takes a write', () => verifyRestored(conn))
      timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
    }
  } catch (e) {
    if (postmasterPid(dir)) await pg.stop(dir, 'immediate').catch(() => {})
    const tail = e instanceof RecoveryStopped ? e.logTail : logTail(logFile, 8)
    const why = e instanceof RecoveryStopped ? undefined : recoveryFailureIn(logFile, plan.repo, dir)
    emptyDir(dir, created)
    rmSync(socketDir, { recursive: true, force: true })
    throw new Error(
      `${why ? `${why}\n` : ''}${(e as Error).message}${tail ? `\nserver log:\n${tail}` : ''}\nthe partial restore was removed; nothing else was touched`,
      { cause: e },
    )
  }
  return cloudReport(plan, { dir, port, socketDir, logFile }, timings)
}

/** pgBackRest restores the set with the vault's WAL fetched by archive-get; the cluster starts with this machine's settings. */
async function restoreAndStart(
  pg: Postgres,
  inv: Inventory,
  plan: RestorePlan,
  d: { dir: string; port: number; socketDir: string; logFile: string },
  c: CloudRepoConfig,
  audit: AuditLog,
): Promise<void> {
  const getWal = `pgbackrest --config=${c.conf} --config-include-path=${join(c.dir, 'conf.d')} --stanza=${inv.pgbackrest.stanza} --pg1-path=${d.dir} --repo=${plan.repo} --archive-async=n archive-get %f "%p"`
  const args = [
    `--pg1-path=${d.dir}`,
    `--repo=${plan.repo}`,
    `--set=${plan.backup.label}`,
    '--no-delta',
    ...plan.targetArgs,
    '--archive-mode=off',
    `--recovery-option=restore_command=${getWal}`,
  ]
  await audit.step('pgbackrest restore (cloud repo)', () => c.br.restore(args), {
    dir: d.dir,
    repo: plan.repo,
    set: plan.backup.label,
  })
  const config = writeLocalConfig(d.dir, d.port, d.socketDir)
  await audit.step('start restored cluster', () => pg.start(d.dir, d.logFile, `-c config_file=${config}`), {
    port: d.port,
  })
}

function cloudReport(
  plan: RestorePlan,
  d: { dir: string; port: number; socketDir: string; logFile: string },
  timings: Record<string, number>,
): RestoreReport {
  const connect = `sudo -u postgres psql -h ${d.socketDir} -p ${d.port} (or -h 127.0.0.1 with a restored role's password)`
  const r = newClusterReport(plan, d.dir, d.port, d.logFile, timings, connect)
  return {
    ...r,
    notes: [
      ...r.notes,
      `server log: ${d.logFile}`,
      'the erasure ledger is not re-applied on a cloud restore (no ledger is kept for cloud stacks yet): purge erased people before this cluster serves anyone',
    ],
  }
}

/** Where a restored cluster's socket is: a 0700 directory of the site user (trust: only it and root reach it). */
export const coldSocketDir = (port: number) => `/tmp/labdojo-cold-restore-${port}`

/** The application's database in a restored cluster: the first that is neither a template nor postgres. */
export async function userDatabase(conn: { host: string; port: number; database: string }): Promise<string> {
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
