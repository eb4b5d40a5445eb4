/**
 * Restore over the primary, safely, as named steps: nothing destructive before the replacement
 * is verified. stage (restore beside the primary and verify it read-only, paused at the target)
 * -> swap (fence the endpoint, stop the nodes, exchange directories, keeping the old one) ->
 * bring up (start, promote or resume, verify a write) -> route traffic -> rebuild the standbys.
 * A failure before the swap leaves the original running and untouched; a failure while
 * bringing the restored data up rolls back to the original directory.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { InputError } from '../../../../core/errors.ts'
import { describeTarget, type RestorePlan } from '../../../../core/recovery.ts'
import { postmasterPid, probe, query } from '../../adapters/postgres.ts'
import { mkdirForSiteUser, waitFor } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { DATABASE, NODE_NAMES, type NodeName } from '../../sites/local/layout.ts'
import { clearRestoreSettings } from '../../sites/local/node-settings.ts'
import type { LocalSite, SiteState } from '../../sites/local/site.ts'
import {
  caughtUp,
  freeScratchPort,
  reachedFromLog,
  restoreArgs,
  restoredClusterOptions,
  stamp,
  verifyTables,
} from './cluster.ts'
import type { RestoreOptions, RestoreReport } from './plan.ts'

/** Where this in-place restore stages its copy and keeps the directories it replaces. */
interface Staging {
  dir: string
  port: number
  logFile: string
  stamp: string
}

export async function restoreInPlace(
  site: LocalSite,
  _o: RestoreOptions,
  plan: RestorePlan,
  audit: AuditLog,
): Promise<RestoreReport> {
  const t0 = Date.now()
  const state = site.state()
  const primary = state.primary
  const paths = site.layout.node(primary)
  const at = stamp()
  const staging: Staging = {
    dir: `${paths.data}.restoring-${at}`,
    port: await freeScratchPort(site.layout),
    logFile: join(paths.dir, `restore-${at}.log`),
    stamp: at,
  }
  const timings: Record<string, number> = {}

  await stageAndVerify(site, plan, staging, audit, timings, t0)
  timings.verifiedSeconds = (Date.now() - t0) / 1000
  const standbys = NODE_NAMES.filter((n) => n !== primary && state.roles[n] !== 'fenced')
  const replaced = await swapIn(site, primary, standbys, staging, audit)
  try {
    await bringUpRestored(site, primary, plan, audit)
  } catch (e) {
    await rollBack(site, state, standbys, staging, replaced)
    throw new InputError('in-place restore rolled back', [
      {
        key: 'restore',
        message: `${(e as Error).message}; the original data directory is back in place and serving`,
        fix: 'inspect the failed directory, then retry',
      },
    ])
  }
  timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
  await audit.step('route endpoint', () => site.routeEndpoint(primary))
  const kept = [replaced, ...(await rebuildStandbys(site, state, standbys, staging.stamp, audit))]
  timings.totalSeconds = (Date.now() - t0) / 1000
  return {
    mode: 'in-place',
    target: describeTarget(plan.target),
    repo: plan.repo,
    backup: plan.backup.label,
    backupType: plan.backup.type,
    dataDir: paths.data,
    port: site.port(primary),
    connect: `psql -h 127.0.0.1 -p ${site.layout.ports.endpoint} -U postgres ${DATABASE}  (through the endpoint)`,
    reached: reachedFromLog(
      readFileSync(staging.logFile, 'utf8') + (existsSync(paths.log) ? readFileSync(paths.log, 'utf8') : ''),
    ),
    timings,
    notes: [...plan.notes, `old data directories kept until you remove them: ${kept.join(', ')}`],
    keptOldDataDirs: kept,
  }
}

/** 1. Restore beside the primary and verify it, paused at the target (read-only, never promoted). */
async function stageAndVerify(
  site: LocalSite,
  plan: RestorePlan,
  staging: Staging,
  audit: AuditLog,
  timings: Record<string, number>,
  t0: number,
): Promise<void> {
  const primary = site.state().primary
  mkdirForSiteUser(staging.dir, 0o700)
  try {
    const restore = () => site.br.restore(restoreArgs(site.layout, plan, staging.dir, 'hold'))
    await audit.step('pgbackrest restore (staging)', restore, {
      staging: staging.dir,
      repo: plan.repo,
      set: plan.backup.label,
    })
    timings.restoreSeconds = (Date.now() - t0) / 1000
    await site.pg.start(
      staging.dir,
      staging.logFile,
      restoredClusterOptions(staging.port, `restore-${staging.port}`, site.layout.socketDir),
    )
    const atTarget = async () => {
      const sql = `SELECT pg_is_in_recovery() AS rec,
        CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() = 'paused' ELSE false END AS paused`
      const [r] = await query<{ paused: boolean; rec: boolean }>(
        { host: '127.0.0.1', port: staging.port, database: 'postgres' },
        sql,
      )
      if (plan.target.kind === 'latest') return r!.rec && (await caughtUp(staging.port, plan.window.latest.lsn))
      return r!.paused
    }
    await waitFor('the staged restore to reach its target', atTarget, 4 * 3600_000, 100)
    await audit.step('verify staged restore', () => verifyTables(staging.port))
    await site.pg.stop(staging.dir, 'fast')
  } catch (e) {
    if (postmasterPid(staging.dir)) await site.pg.stop(staging.dir, 'immediate').catch(() => {})
    rmSync(staging.dir, { recursive: true, force: true })
    throw new Error(
      `${(e as Error).message}\nin-place restore abandoned before the swap: the primary ${primary} is running and untouched`,
      { cause: e },
    )
  }
}

/** 2. Fence traffic, stop the nodes, exchange the directories; returns where the old primary's data is kept. */
async function swapIn(
  site: LocalSite,
  primary: NodeName,
  standbys: NodeName[],
  staging: Staging,
  audit: AuditLog,
): Promise<string> {
  const data = site.layout.node(primary).data
  await audit.step('fence endpoint', () => site.routeEndpoint(undefined))
  for (const n of [...standbys, primary]) {
    const dir = site.layout.node(n).data
    if (postmasterPid(dir)) await audit.step(`stop ${n}`, () => site.pg.stop(dir, 'fast'))
  }
  const replaced = `${data}.replaced-${staging.stamp}`
  renameSync(data, replaced)
  renameSync(staging.dir, data)
  return replaced
}

/** 3. Start the restored primary, end its recovery at the target, prove it takes a write. */
async function bringUpRestored(site: LocalSite, primary: NodeName, plan: RestorePlan, audit: AuditLog): Promise<void> {
  const paths = site.layout.node(primary)
  // the standbys follow the discarded history: they are rebuilt once the restored primary serves
  site.writeNodeSettings(primary, 'primary', { primary, syncStandbys: [] })
  await audit.step(`start ${primary} on the restored data`, () => site.pg.start(paths.data, paths.log))
  const conn = site.conn(primary, 'postgres')
  if (plan.target.kind === 'latest') await site.pg.promote(paths.data)
  else {
    const pauseState = async () => {
      const sql = `SELECT CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'promoted' END AS p`
      return (await query<{ p: string }>(conn, sql))[0]!.p !== 'not paused'
    }
    await waitFor('recovery to pause at the target again', pauseState, 4 * 3600_000, 100)
    await query(conn, `SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_replay_resume() END`)
  }
  await waitFor(
    `${primary} to accept writes`,
    async () => (await probe(primary, conn)).inRecovery === false,
    600_000,
    100,
  )
  const verifySql = `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('restore-verify', $1, 'in-place restore verified') ON CONFLICT DO NOTHING`
  await query(site.conn(primary), verifySql, [Date.now()])
  // promoted: the restore's recovery settings (the staging path, the target) must not reach
  // the standbys that pg_basebackup clones from this directory; node.conf holds the live ones
  if (clearRestoreSettings(paths.data)) await site.pg.reload(paths.data)
}

/** Put the original directory back and serve from it again. */
async function rollBack(
  site: LocalSite,
  state: SiteState,
  standbys: NodeName[],
  staging: Staging,
  replaced: string,
): Promise<void> {
  const primary = state.primary
  const paths = site.layout.node(primary)
  if (postmasterPid(paths.data)) await site.pg.stop(paths.data, 'immediate').catch(() => {})
  renameSync(paths.data, `${paths.data}.failed-${staging.stamp}`)
  renameSync(replaced, paths.data)
  site.writeNodeSettings(primary, 'primary', { primary, syncStandbys: [] })
  await site.pg.start(paths.data, paths.log)
  await site.routeEndpoint(primary)
  for (const n of standbys) await site.ensureRunning(state, n).catch(() => {})
  await site.ensureSyncReplication(state).catch(() => {})
}

/** 5. The standbys follow the discarded history: keep their directories aside and clone them again. */
async function rebuildStandbys(
  site: LocalSite,
  state: SiteState,
  standbys: NodeName[],
  at: string,
  audit: AuditLog,
): Promise<string[]> {
  const kept: string[] = []
  for (const n of standbys) {
    const dir = site.layout.node(n).data
    if (!existsSync(dir)) continue
    renameSync(dir, `${dir}.replaced-${at}`)
    kept.push(`${dir}.replaced-${at}`)
  }
  log.info('rebuilding the standbys from the restored primary')
  await audit.step('rebuild standbys', () => site.up({ scale: state.scale }))
  return kept
}
