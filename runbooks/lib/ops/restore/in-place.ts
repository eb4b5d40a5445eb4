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
import { inputError } from '../../../../core/errors.ts'
import { describeTarget, type RestorePlan } from '../../../../core/recovery.ts'
import { pgBin, postmasterPid, probe, query } from '../../adapters/postgres.ts'
import { mkdirForSiteUser, waitFor } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { reposFor } from '../../../../core/backup-policy.ts'
import { physicalBackup } from '../backup/backup.ts'
import { DATABASE, NODE_NAMES, type NodeName } from '../../sites/local/layout.ts'
import { clearRestoreSettings } from '../../sites/local/node-settings.ts'
import type { LocalSite, SiteState } from '../../sites/local/site.ts'
import {
  caughtUp,
  waitForRecovery,
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
  o: RestoreOptions,
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
  await requireLatestReachable(site, primary, plan, o)

  await stageAndVerify(site, plan, staging, audit, timings, t0)
  timings.verifiedSeconds = (Date.now() - t0) / 1000
  const standbys = NODE_NAMES.filter((n) => n !== primary && state.roles[n] !== 'fenced')
  const { replaced, tail } = await swapIn(site, primary, standbys, plan, staging, audit)
  await bringUpOrRollBack(site, state, standbys, plan, staging, replaced, audit)
  timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
  await audit.step('route endpoint', () => site.routeEndpoint(primary))
  const kept = [replaced, ...(await rebuildStandbys(site, state, standbys, staging.stamp, audit))]
  const fresh = await backupNewTimeline(site, audit)
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
    notes: [
      ...plan.notes,
      ...(tail
        ? [
            `latest = every commit ${primary} acknowledged before the endpoint was fenced: its WAL up to ${tail.lsn} (${tail.segment}) was archived and replayed into the restore, and its own WAL after that holds no commit`,
          ]
        : []),
      `old data directories kept until you remove them: ${kept.join(', ')}`,
      `a full backup of the restored primary's new timeline was taken: ${fresh}`,
    ],
    keptOldDataDirs: kept,
  }
}

/**
 * `latest` in place means the newest acknowledged commit, which only a running primary can hand
 * over (its last WAL is archived at the fence). With the primary down, commits after the newest
 * archived one are gone: say so with the numbers and require --accept-data-loss.
 */
async function requireLatestReachable(
  site: LocalSite,
  primary: NodeName,
  plan: RestorePlan,
  o: RestoreOptions,
): Promise<void> {
  if (plan.target.kind !== 'latest' || o.acceptDataLoss) return
  const p = await probe(primary, site.conn(primary, 'postgres'))
  if (p.reachable && p.inRecovery === false) return
  const last = plan.window.latest
  throw inputError(
    '--target',
    'latest',
    `primary ${primary} does not answer (${p.error ?? 'in recovery'}), so its unarchived WAL cannot be handed over: commits it acknowledged after the newest archived one (${new Date(last.time).toISOString()}, LSN ${last.lsn}) would be lost`,
    'bring the primary back and retry, or pass --accept-data-loss to restore to the newest archived commit',
  )
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
    await waitForRecovery(
      'the staged restore to reach its target',
      { dir: staging.dir, logFile: staging.logFile, repo: plan.repo },
      atTarget,
    )
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

/**
 * 2. Fence traffic and stop the nodes; for `latest`, first get the old primary's last WAL into
 * the archive and replay it into the staged copy, so that latest means the newest acknowledged
 * commit (observed, not assumed). Then exchange the directories; returns where the old
 * primary's data is kept. A failure before the exchange brings the old primary back.
 */
async function swapIn(
  site: LocalSite,
  primary: NodeName,
  standbys: NodeName[],
  plan: RestorePlan,
  staging: Staging,
  audit: AuditLog,
): Promise<{ replaced: string; tail?: Tail }> {
  const data = site.layout.node(primary).data
  await audit.step('fence endpoint', () => site.routeEndpoint(undefined))
  let tail: Tail | undefined
  try {
    if (plan.target.kind === 'latest' && postmasterPid(data)) tail = await archiveTheTail(site, primary, audit)
    for (const n of [...standbys, primary]) {
      const dir = site.layout.node(n).data
      if (postmasterPid(dir)) await audit.step(`stop ${n}`, () => site.pg.stop(dir, 'fast'))
    }
    if (tail) {
      await audit.step('check no commit after the fence', () => requireNoCommitsAfter(site, data, tail!))
      await audit.step('replay the tail into the staged copy', () => catchUpStaged(site, plan, staging, tail!))
    }
  } catch (e) {
    await audit.step('undo the fence: the old primary serves again', () => resumeOldPrimary(site, primary, standbys))
    throw new Error(
      `${(e as Error).message}\nin-place restore abandoned before the swap: ${primary} serves again behind the endpoint, nothing was replaced`,
      { cause: e },
    )
  }
  const replaced = `${data}.replaced-${staging.stamp}`
  renameSync(data, replaced)
  renameSync(staging.dir, data)
  return { replaced, tail }
}

/** Where the old primary's WAL ended once the endpoint was fenced, and that it reached the archive. */
interface Tail {
  /** the end of the last WAL segment the old primary completed (pg_switch_wal), all of it archived */
  lsn: string
  segment: string
}

/** With traffic fenced: close the current WAL segment and wait until the archive holds it. */
async function archiveTheTail(site: LocalSite, primary: NodeName, audit: AuditLog): Promise<Tail> {
  const conn = site.conn(primary, 'postgres')
  const [sw] = await query<{ lsn: string; segment: string }>(
    conn,
    `SELECT l::text AS lsn, pg_walfile_name(l - 1) AS segment FROM (SELECT pg_switch_wal() AS l) s`,
  )
  const tail = { lsn: sw!.lsn, segment: sw!.segment }
  const archived = async () => {
    const [a] = await query<{ last: string | null }>(conn, 'SELECT last_archived_wal AS last FROM pg_stat_archiver')
    return !!a?.last && a.last.slice(0, 24) >= tail.segment
  }
  await audit.step(`archive ${tail.segment} (the primary's last WAL before the fence)`, () =>
    waitFor(`${tail.segment} to be archived`, archived, 300_000, 100),
  )
  return tail
}

/**
 * The old primary, stopped, wrote no commit after the tail: its own WAL is read with pg_waldump.
 * (A client that bypassed the endpoint could have; its commit would be lost, so we stop instead.)
 */
async function requireNoCommitsAfter(site: LocalSite, dataDir: string, tail: Tail): Promise<void> {
  const r = await site.run(
    pgBin('pg_waldump'),
    ['-p', join(dataDir, 'pg_wal'), `--start=${tail.lsn}`, '--rmgr=Transaction'],
    {
      asSiteUser: true,
      nothrow: true,
      timeoutMs: 120_000,
    },
  )
  const commits = r.stdout.split('\n').filter((l) => /desc: COMMIT/.test(l)).length
  if (commits > 0)
    throw new Error(
      `${commits} commit(s) reached the old primary after the fence (not through the endpoint): they are not in the archive`,
    )
}

/** Start the staged copy again (still a standby) until it has replayed the tail, then stop it. */
async function catchUpStaged(site: LocalSite, plan: RestorePlan, staging: Staging, tail: Tail): Promise<void> {
  await site.pg.start(
    staging.dir,
    staging.logFile,
    restoredClusterOptions(staging.port, `restore-${staging.port}`, site.layout.socketDir),
  )
  await waitForRecovery(
    `the staged copy to replay up to ${tail.lsn}`,
    { dir: staging.dir, logFile: staging.logFile, repo: plan.repo },
    () => caughtUp(staging.port, tail.lsn),
  )
  await site.pg.stop(staging.dir, 'fast')
}

/** Before any directory moved: start what was stopped, route traffic back to the old primary. */
async function resumeOldPrimary(site: LocalSite, primary: NodeName, standbys: NodeName[]): Promise<void> {
  const state = site.state()
  for (const n of [primary, ...standbys]) await site.ensureRunning(state, n)
  await site.routeEndpoint(primary)
  await site.ensureSyncReplication(state)
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
/** 3 or 3'. Bring the restored data up; on failure put the original back (exit 1: something was swapped, then undone). */
async function bringUpOrRollBack(
  site: LocalSite,
  state: SiteState,
  standbys: NodeName[],
  plan: RestorePlan,
  staging: Staging,
  replaced: string,
  audit: AuditLog,
): Promise<void> {
  try {
    await bringUpRestored(site, state.primary, plan, audit)
  } catch (e) {
    const why = (e as Error).message
    const outcome = await audit.step('roll back to the original data directory', () =>
      rollBack(site, state, standbys, staging, replaced),
    )
    throw new Error(
      `in-place restore failed after the swap (${why}) and was rolled back: ${outcome}. The restored copy is kept at ${site.layout.node(state.primary).data}.failed-${staging.stamp}`,
      { cause: e },
    )
  }
}

/**
 * Put the original directory back and prove it serves (a write through the endpoint). A step that
 * fails is reported with the site's exact state and the one command that restores service.
 */
async function rollBack(
  site: LocalSite,
  state: SiteState,
  standbys: NodeName[],
  staging: Staging,
  replaced: string,
): Promise<string> {
  const primary = state.primary
  const paths = site.layout.node(primary)
  if (postmasterPid(paths.data)) await site.pg.stop(paths.data, 'immediate').catch(() => {})
  renameSync(paths.data, `${paths.data}.failed-${staging.stamp}`)
  renameSync(replaced, paths.data)
  site.writeNodeSettings(primary, 'primary', { primary, syncStandbys: [] })
  try {
    await site.pg.start(paths.data, paths.log)
    await site.routeEndpoint(primary)
    await query(
      site.endpointConn(),
      `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('rollback-verify', $1, 'original back')`,
      [Date.now()],
    )
  } catch (e) {
    throw new Error(
      `the original data directory is back at ${paths.data} but ${primary} does not serve (${(e as Error).message.split('\n')[0]}); the endpoint may still be fenced. Restore service with: npx zx runbooks/local.ts up`,
      { cause: e },
    )
  }
  const lagging: string[] = []
  for (const n of standbys) await site.ensureRunning(state, n).catch(() => lagging.push(n))
  await site.ensureSyncReplication(state).catch(() => lagging.push('synchronous replication'))
  const standbyNote = lagging.length ? `; NOT restarted: ${lagging.join(', ')} (run local.ts up)` : '; standbys running'
  return `the original data directory is back and serving (a write through the endpoint succeeded)${standbyNote}`
}

/**
 * 6. A full backup of the new timeline. The older backups hold the abandoned branch past the
 * restore point: a later restore to latest must start from a backup on this timeline.
 */
async function backupNewTimeline(site: LocalSite, audit: AuditLog): Promise<string> {
  const repos = reposFor(
    site.policy,
    'full',
    undefined,
    site.inventory().pgbackrest.repos.map((r) => r.index),
  )
  const records = await audit.step('full backup of the new timeline', () => physicalBackup(site, 'full', repos))
  return records.map((r) => `${r.label} in repo${r.repo}`).join(', ')
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
