/** Restore into a NEW cluster (the default): new directory, new port; the running site is never touched. */
import { writeHba } from '../../sites/local/node-settings.ts'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type RestorePlan } from '../../../../core/recovery.ts'
import { describeTarget } from '../../../../core/recovery-target.ts'
import { postmasterPid, probe } from '../../adapters/postgres.ts'
import { logTail } from '../../adapters/cluster-files.ts'
import { mkdirForSiteUser, stamp } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { DATABASE } from '../../sites/local/layout.ts'
import type { LocalSite } from '../../sites/local/site.ts'
import {
  emptyDir,
  RecoveryStopped,
  recoveryFailureIn,
  waitForRecovery,
  freeScratchPort,
  reachedFromLog,
  restoreArgs,
  restoredClusterOptions,
  verifyTables,
} from './cluster.ts'
import type { RestoreOptions, RestoreReport } from './plan.ts'
import { readErasures, reapplyErasures } from '../erasure/erasure.ts'

export async function restoreNew(
  site: LocalSite,
  o: RestoreOptions,
  plan: RestorePlan,
  audit: AuditLog,
): Promise<RestoreReport> {
  const t0 = Date.now()
  await readErasures(site) // the erasure ledger must be readable before anything is restored: nothing serves without it
  const port = o.port ?? (await freeScratchPort(site.layout))
  const dir = o.into ?? join(site.layout.scratchDir, `restore-${stamp()}-${port}`)
  const created = !existsSync(dir)
  mkdirForSiteUser(dir, 0o700)
  const logFile = join(dir, 'restore.log')
  const timings: Record<string, number> = {}
  let erased: { people: number; rows: number } | undefined
  try {
    await audit.step('pgbackrest restore', () => site.br.restore(restoreArgs(site.layout, plan, dir, 'promote')), {
      dir,
      repo: plan.repo,
      set: plan.backup.label,
    })
    writeHba(dir) // the backup may carry an older pg_hba.conf
    timings.restoreSeconds = (Date.now() - t0) / 1000
    const t1 = Date.now()
    await startAndRecover(site, { dir, logFile, port, repo: plan.repo }, audit)
    timings.recoverySeconds = (Date.now() - t1) / 1000
    erased = await serve(site, port, audit)
    timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
  } catch (e) {
    if (postmasterPid(dir)) await site.pg.stop(dir, 'immediate').catch(() => {})
    const tail = e instanceof RecoveryStopped ? e.logTail : logTail(logFile, 8)
    // the server can exit during recovery before pg_ctl even reports it started
    const why = e instanceof RecoveryStopped ? undefined : recoveryFailureIn(logFile, plan.repo, dir)
    emptyDir(dir, created)
    throw new Error(
      `${why ? `${why}\n` : ''}${(e as Error).message}${tail ? `\nserver log:\n${tail}` : ''}\nthe partial restore was removed; nothing else was touched`,
      { cause: e },
    )
  }
  const report = newClusterReport(plan, dir, port, logFile, timings)
  if (erased?.people)
    report.notes.push(
      `re-applied the erasure ledger before serving: ${erased.rows} row(s) of ${erased.people} erased person(s) purged`,
    )
  return report
}

/** Start the restored cluster and wait until it has recovered and promoted (a failed recovery is named). */
async function startAndRecover(
  site: LocalSite,
  c: { dir: string; logFile: string; port: number; repo: number },
  audit: AuditLog,
): Promise<void> {
  const options = restoredClusterOptions(c.port, `restore-${c.port}`, site.layout.socketDir)
  await audit.step('start restored cluster', () => site.pg.start(c.dir, c.logFile, options), { port: c.port })
  const conn = { host: '127.0.0.1', port: c.port, database: 'postgres', passfile: site.layout.secrets.pgpass }
  const promoted = async () => {
    const p = await probe('restore', conn)
    return p.reachable && p.inRecovery === false
  }
  await waitForRecovery('the restored cluster to finish recovery and promote', c, promoted)
}

/** Before the restored cluster serves: the erasure ledger re-applied, then the tables read and a write taken. */
async function serve(site: LocalSite, port: number, audit: AuditLog): Promise<{ people: number; rows: number }> {
  const restored = { host: '127.0.0.1', port, database: DATABASE, passfile: site.layout.secrets.pgpass }
  const erased = await audit.step('re-apply the erasure ledger', () => reapplyErasures(site, restored))
  await verifyTables(port, site.layout.secrets.pgpass, true)
  return erased
}

/** The report of a restore into a new cluster (the local site's and the cold site's path alike). */
export function newClusterReport(
  plan: RestorePlan,
  dir: string,
  port: number,
  logFile: string,
  timings: Record<string, number>,
  connect = `psql -h 127.0.0.1 -p ${port} -U postgres ${DATABASE}`,
): RestoreReport {
  return {
    mode: 'new-cluster',
    target: describeTarget(plan.target),
    repo: plan.repo,
    backup: plan.backup.label,
    backupType: plan.backup.type,
    dataDir: dir,
    port,
    connect,
    reached: reachedFromLog(readFileSync(logFile, 'utf8')),
    timings,
    notes: plan.notes,
  }
}
