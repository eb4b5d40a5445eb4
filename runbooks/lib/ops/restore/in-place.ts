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
import type { RestorePlan } from '../../../../core/recovery.ts'
import { describeTarget } from '../../../../core/recovery-target.ts'
import { postmasterPid, probe, query } from '../../adapters/postgres.ts'
import { proveWritable } from '../write-check.ts'
import { mkdirForSiteUser, stamp, waitFor } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { progress, shielded } from '../../output/interrupt.ts'
import { log } from '../../output/log.ts'
import { reposFor } from '../../../../core/backup-policy.ts'
import { physicalBackup } from '../backup/backup.ts'
import { releaseHeldWal } from './held-wal.ts'
import { caughtUp, reachedFromLog, stagingCluster, verifyTables, type Staging } from './cluster.ts'
import { restoreIntoScratch, ScratchRestoreFailed } from './scratch-restore.ts'
import type { RestoreOptions, RestoreReport } from './plan.ts'
import { readErasures, reapplyErasures } from '../erasure/erasure.ts'
import {
  archiveTheTail,
  catchUpStaged,
  requireLatestReachable,
  requireNoCommitsAfter,
  tailNote,
  type Tail,
} from './in-place-tail.ts'
import { firstLine } from '../../../../core/errors.ts'
import { NODE_NAMES, DATABASE, type LocalSitePort, type NodeName, type SiteState } from '../../sites/local-port.ts'
import type { InPlaceJournal, InPlacePhase } from '../../sites/local-port.ts'

export async function restoreInPlace(
  site: LocalSitePort,
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
    port: await site.scratch.freePort(),
    logFile: join(paths.dir, `restore-${at}.log`),
    stamp: at,
  }
  const timings: Record<string, number> = {}
  await requireLatestReachable(site, primary, plan, o)
  await readErasures(site) // read before anything changes: the restored data serves only once the ledger is re-applied

  const standbys = NODE_NAMES.filter((n) => n !== primary && state.roles[n] !== 'fenced')
  const { journal, reach } = startJournal(site, plan, staging, standbys)
  await stageAndVerify(site, plan, staging, audit, timings, t0).catch((e) => {
    site.journal.clear()
    throw e
  })
  timings.verifiedSeconds = (Date.now() - t0) / 1000
  const { replaced, tail } = await swapIn(site, primary, standbys, plan, staging, audit, reach).catch(async (e) => {
    await discardStaging(site, staging)
    site.journal.clear()
    throw e
  })
  // swapped: the safe place to stop is the verified restore serving the endpoint (or, should it
  // fail, the original back), so a Ctrl-C from here is honoured after traffic is routed
  await shielded('bringing the restored primary into service', async () => {
    await bringUpOrRollBack(site, state, standbys, plan, staging, replaced, journal.held, audit)
    reach('proven')
    timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
    await audit.step('route endpoint', () => site.routeEndpoint(primary))
  })
  progress.resume = `the restored ${primary} serves the endpoint; npx zx runbooks/local.ts up (rebuilds the standbys), then npx zx runbooks/backup.ts --type full (the new timeline's first backup)`
  const kept = [replaced, ...(await rebuildStandbys(site, state, standbys, staging.stamp, audit))]
  site.journal.clear()
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
    notes: [...plan.notes, ...tailNote(primary, tail), ...keptNotes(kept, fresh)],
    keptOldDataDirs: kept,
  }
}

/** Each step is journaled before it is taken: a killed restore is undone or finished by `up`. */
function startJournal(site: LocalSitePort, plan: RestorePlan, staging: Staging, standbys: NodeName[]) {
  const primary = site.state().primary
  const paths = site.layout.node(primary)
  const journal: InPlaceJournal = {
    pid: process.pid,
    primary,
    stamp: staging.stamp,
    target: describeTarget(plan.target),
    staging: staging.dir,
    replaced: `${paths.data}.replaced-${staging.stamp}`,
    held: join(paths.dir, `held-wal-${staging.stamp}`),
    standbys,
    phase: 'staging',
  }
  const reach = (phase: InPlacePhase) => site.journal.write({ ...journal, phase })
  reach('staging')
  return { journal, reach }
}

function keptNotes(kept: string[], fresh: string): string[] {
  return [
    `old data directories kept until you remove them: ${kept.join(', ')}`,
    `a full backup of the restored primary's new timeline was taken: ${fresh}`,
  ]
}

/** 1. Restore beside the primary and verify it, paused at the target (read-only, never promoted). */
async function stageAndVerify(
  site: LocalSitePort,
  plan: RestorePlan,
  staging: Staging,
  audit: AuditLog,
  timings: Record<string, number>,
  t0: number,
): Promise<void> {
  const primary = site.state().primary
  try {
    const host = site.scratch.host
    const c = stagingCluster(staging)
    const conn = host.conn(c, 'postgres')
    // held at the target; at latest it stays a standby, at its target once it has replayed all the archive holds
    const atLatest = async () =>
      (await probe(c.name, conn)).inRecovery === true && (await caughtUp(conn, plan.window.latest.lsn))
    const t = await restoreIntoScratch(host, site.repos, plan, c, {
      mode: 'hold',
      audit,
      what: 'pgbackrest restore (staging)',
      keepOnFailure: true, // discardStaging removes it, shielded from Ctrl-C
      ...(plan.target.kind === 'latest' ? { reached: atLatest } : {}),
    })
    timings.restoreSeconds = (Date.now() - t0) / 1000 - t.recoverySeconds
    await audit.step('verify staged restore', () => verifyTables(host.conn(c)))
    await site.pg.stop(staging.dir, 'fast')
  } catch (e) {
    await discardStaging(site, staging)
    const tail = e instanceof ScratchRestoreFailed && e.logTail ? `\nserver log:\n${e.logTail}` : ''
    throw new Error(
      `${(e as Error).message}${tail}\nin-place restore abandoned before the swap: the primary ${primary} is running and untouched`,
      { cause: e },
    )
  }
}

/** Abandoned before the swap: the staged copy goes (it can be made again), even under Ctrl-C. */
async function discardStaging(site: LocalSitePort, staging: Staging): Promise<void> {
  await shielded('removing the staged copy', async () => {
    if (postmasterPid(staging.dir)) await site.pg.stop(staging.dir, 'immediate').catch(() => {})
    rmSync(staging.dir, { recursive: true, force: true })
  })
}

/**
 * 2. Fence traffic and stop the nodes; for `latest`, first get the old primary's last WAL into
 * the archive and replay it into the staged copy, so that latest means the newest acknowledged
 * commit (observed, not assumed). Then exchange the directories; returns where the old
 * primary's data is kept. A failure before the exchange brings the old primary back.
 */
async function swapIn(
  site: LocalSitePort,
  primary: NodeName,
  standbys: NodeName[],
  plan: RestorePlan,
  staging: Staging,
  audit: AuditLog,
  reach: (phase: InPlacePhase) => void,
): Promise<{ replaced: string; tail?: Tail }> {
  const data = site.layout.node(primary).data
  reach('fenced')
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
    await audit.cleanup('undo the fence: the old primary serves again', () => resumeOldPrimary(site, primary, standbys))
    throw new Error(
      `${(e as Error).message}\nin-place restore abandoned before the swap: ${primary} serves again behind the endpoint, nothing was replaced`,
      { cause: e },
    )
  }
  const replaced = `${data}.replaced-${staging.stamp}`
  reach('swapping')
  renameSync(data, replaced)
  renameSync(staging.dir, data)
  reach('swapped')
  return { replaced, tail }
}

/** Before any directory moved: start what was stopped, route traffic back to the old primary. */
async function resumeOldPrimary(site: LocalSitePort, primary: NodeName, standbys: NodeName[]): Promise<void> {
  const state = site.state()
  for (const n of [primary, ...standbys]) await site.ensureRunning(state, n)
  await site.routeEndpoint(primary)
  await site.ensureSyncReplication(state)
}

/** 3. Start the restored primary, end its recovery at the target, prove it takes a write. */
async function bringUpRestored(
  site: LocalSitePort,
  primary: NodeName,
  plan: RestorePlan,
  held: string,
  audit: AuditLog,
): Promise<void> {
  const paths = site.layout.node(primary)
  // the standbys follow the discarded history: they are rebuilt once the restored primary serves.
  // Until it is proven, its WAL (the new timeline's history first) is held out of the repos
  mkdirForSiteUser(held, 0o700)
  site.writeNodeSettings(primary, 'primary', { primary, syncStandbys: [], holdArchiveIn: held })
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
  // before the endpoint routes to it: every erased person's rows go again (a failure rolls back)
  await audit.step('re-apply the erasure ledger', () => reapplyErasures(site, site.conn(primary)))
  await proveWritable(site.conn(primary), { note: 'in-place restore verified' })
  // promoted: the restore's recovery settings (the staging path, the target) must not reach
  // the standbys that pg_basebackup clones from this directory; node.conf holds the live ones
  if (site.settings.clearRestoreSettings(paths.data)) await site.pg.reload(paths.data)
  await audit.step('archive the restored timeline', () => releaseHeldWal(site, primary, held))
}

/** 3 or 3'. Bring the restored data up; on failure put the original back (exit 1: something was swapped, then undone). */
async function bringUpOrRollBack(
  site: LocalSitePort,
  state: SiteState,
  standbys: NodeName[],
  plan: RestorePlan,
  staging: Staging,
  replaced: string,
  held: string,
  audit: AuditLog,
): Promise<void> {
  try {
    await bringUpRestored(site, state.primary, plan, held, audit)
  } catch (e) {
    const why = (e as Error).message
    const outcome = await audit.cleanup('roll back to the original data directory', async () => {
      // nothing of the abandoned timeline reached the repos: its held WAL goes with it
      rmSync(held, { recursive: true, force: true })
      const r = await rollBack(site, state, standbys, staging, replaced)
      site.journal.clear()
      return r
    })
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
  site: LocalSitePort,
  state: SiteState,
  standbys: NodeName[],
  staging: Staging,
  replaced: string,
): Promise<string> {
  const primary = state.primary
  const paths = site.layout.node(primary)
  if (postmasterPid(paths.data)) await site.pg.stop(paths.data, 'immediate').catch(() => {})
  const failed = `${paths.data}.failed-${staging.stamp}`
  renameSync(paths.data, failed)
  renameSync(replaced, paths.data)
  site.writeNodeSettings(primary, 'primary', { primary, syncStandbys: [] })
  try {
    await site.pg.start(paths.data, paths.log)
    await site.routeEndpoint(primary)
    await proveWritable(site.endpointConn(), {
      note: 'in-place restore rolled back: the original is back',
      landsOn: { name: primary, conn: site.conn(primary) },
    })
  } catch (e) {
    throw new Error(
      `the original data directory is back at ${paths.data} but ${primary} does not serve (${firstLine(e)}); the endpoint may still be fenced; the restored copy is kept at ${failed}. Restore service with: npx zx runbooks/local.ts up`,
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
async function backupNewTimeline(site: LocalSitePort, audit: AuditLog): Promise<string> {
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
  site: LocalSitePort,
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
