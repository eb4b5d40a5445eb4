/**
 * Point-in-time restore on the local site.
 *
 * Default: into a NEW cluster (new directory, new port), never touching the running one.
 * --in-place: restore beside the primary, verify it read-only while it is paused at the
 * target, and only then fence the endpoint, stop the old nodes, swap directories (the old
 * one is kept), promote, verify a write, route traffic and rebuild the standbys. Any failure
 * before the swap leaves the original running and untouched; a failure after it rolls back.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { InputError, inputError } from '../../../../core/errors.ts'
import { describeTarget, planRestore, type RecoveryTarget, type RestorePlan, type RepoCatalog } from '../../../../core/recovery.ts'
import type { AuditLog } from '../../output/audit.ts'
import { readRestorePoints, repoCatalog } from '../catalog/catalog.ts'
import { log } from '../../output/log.ts'
import { LABDOJO_TABLES } from '../../sites/local/dataset.ts'
import { nodeConf, pgbackrestCommand } from '../../sites/local/config-files.ts'
import { DATABASE, NODE_NAMES } from '../../sites/local/layout.ts'
import { clearRestoreSettings, type LocalSite } from '../../sites/local/site.ts'
import { portFree } from '../../adapters/net.ts'
import { logTail, postmasterPid, probe, query } from '../../adapters/postgres.ts'
import { giveToSiteUser, mkdirForSiteUser, waitFor } from '../../adapters/process.ts'
import { restorePointsFile } from '../backup/restore-points.ts'

export interface RestoreOptions {
  target: RecoveryTarget
  repo?: number
  into?: string
  port?: number
  inPlace: boolean
  dryRun: boolean
}

export interface RestoreReport {
  mode: 'new-cluster' | 'in-place' | 'dry-run'
  target: string
  repo: number
  backup: string
  backupType: string
  dataDir: string | null
  port: number | null
  connect: string | null
  reached: { time: string | null; lsn: string | null; detail: string | null } | null
  timings: Record<string, number>
  notes: string[]
  keptOldDataDirs?: string[]
}

async function freeScratchPort(site: LocalSite): Promise<number> {
  for (let p = site.l.ports.scratchFirst; p <= site.l.ports.scratchLast; p++) if (await portFree(p)) return p
  throw inputError('--port', undefined, `every scratch port ${site.l.ports.scratchFirst}..${site.l.ports.scratchLast} is taken`, 'stop an old restore (local.ts down stops them) or pass --port')
}

/** Validate everything before anything changes: target range, repo, directory, port. */
export async function prepare(site: LocalSite, o: RestoreOptions): Promise<{ plan: RestorePlan; catalogs: RepoCatalog[] }> {
  if (o.inPlace && (o.into || o.port)) throw inputError('--in-place', true, 'restores over the primary\'s own directory and port', 'drop --into/--port, or drop --in-place to restore into a new cluster')
  if (o.into !== undefined) {
    if (!o.into.startsWith('/')) throw inputError('--into', o.into, 'must be an absolute path', `e.g. --into ${site.l.scratchDir}/my-restore`)
    if (existsSync(o.into) && readdirSync(o.into).length > 0) throw inputError('--into', o.into, 'is not empty; a restore never writes over existing files', 'pass a new or empty directory')
    for (const n of NODE_NAMES) if (o.into === site.l.node(n).data) throw inputError('--into', o.into, `is ${n}'s data directory`, 'use --in-place to replace the primary safely')
  }
  if (o.port !== undefined && !(await portFree(o.port))) throw inputError('--port', o.port, `127.0.0.1:${o.port} is already in use`, `pick a free port, e.g. within ${site.l.ports.scratchFirst}..${site.l.ports.scratchLast}`)
  const pgPath = site.l.node(site.state().primary).data
  const repos = o.repo ? [o.repo] : site.inventory().pgbackrest.repos.map((r) => r.index)
  const points = readRestorePoints(restorePointsFile(site))
  // repos are read in order and only as far as needed: repo2 (S3) is not asked when repo1 serves
  const catalogs: RepoCatalog[] = []
  let plan: RestorePlan | undefined
  for (const [i, r] of repos.entries()) {
    catalogs.push(await repoCatalog(site.run, site.br, r, pgPath, () => site.repoDown(r)))
    try {
      plan = planRestore(o.target, catalogs, points, o.repo)
      break
    } catch (e) {
      if (!(e instanceof InputError) || i === repos.length - 1 || /unknown restore point/.test(e.message)) throw e
    }
  }
  return { plan: plan!, catalogs }
}

function restoreArgs(site: LocalSite, plan: RestorePlan, dir: string, mode: 'promote' | 'hold'): string[] {
  let target = plan.targetArgs
  if (mode === 'hold') target = plan.target.kind === 'latest' ? ['--type=standby'] : target.map((a) => (a === '--target-action=promote' ? '--target-action=pause' : a))
  return [
    `--pg1-path=${dir}`,
    `--repo=${plan.repo}`,
    `--set=${plan.backup.label}`,
    '--no-delta', // an empty directory: nothing to compare against
    ...target,
    ...(mode === 'promote' ? ['--archive-mode=off'] : []),
    // WAL comes from the same repo the backup came from (the cold site has only repo2), fetched
    // synchronously: an async get waits for segments that do not exist yet, and its spool queue
    // belongs to the site's own standbys
    `--recovery-option=restore_command=${pgbackrestCommand(site.l, 'restore', dir, `--repo=${plan.repo} --archive-async=n archive-get %f "%p"`)}`,
  ]
}

const overrides = (port: number, name: string, socketDir: string) =>
  `-p ${port} -c archive_mode=off -c cluster_name=${name} -c synchronous_standby_names= -c unix_socket_directories=${socketDir} -c hot_standby=on`

/** What the server log says recovery reached. */
export function reachedFromLog(text: string): { time: string | null; lsn: string | null; detail: string | null } {
  const stop = /recovery stopping (before|after) (commit|abort) of transaction \d+, time ([\d\- :.+]+)/.exec(text)
  const last = [...text.matchAll(/last completed transaction was at log time ([\d\- :.+]+)/g)].at(-1)
  const redo = [...text.matchAll(/redo done at ([0-9A-F]+\/[0-9A-F]+)/g)].at(-1)
  const point = /recovery stopping at (restore point "[^"]+"|after reaching consistency|WAL location \(LSN\) "[^"]+")/.exec(text)
  const pause = /(recovery has paused|pausing at the end of recovery)/.exec(text)
  // what was recovered: the last completed transaction (the stopping one is excluded when 'before')
  const time = last?.[1] ?? (stop?.[1] === 'after' ? stop[3] : null) ?? null
  return {
    time: time ? new Date(time.trim().replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).toISOString() : null,
    lsn: redo?.[1] ?? null,
    detail: stop ? `stopped ${stop[1]} ${stop[2]} at ${stop[3]}` : point ? `stopped at ${point[1]}` : pause ? pause[1]! : null,
  }
}

async function tablesOf(port: number): Promise<string[]> {
  const rows = await query<{ t: string }>({ host: '127.0.0.1', port, database: DATABASE }, `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'`)
  return rows.map((r) => r.t)
}

/** The restored cluster holds the LabDojo tables and answers; `write` also proves it accepts a write. */
async function verifyTables(port: number, write = false): Promise<void> {
  const tables = await tablesOf(port)
  const missing = LABDOJO_TABLES.filter((t) => !tables.includes(t))
  if (missing.length) throw new Error(`the restored cluster lacks tables ${missing.join(', ')}`)
  await query({ host: '127.0.0.1', port, database: DATABASE }, 'SELECT count(*) FROM users')
  if (write) await query({ host: '127.0.0.1', port, database: DATABASE }, 'SELECT txid_current()') // assigns an xid: needs a writable server
}

function emptyDir(dir: string, created: boolean): void {
  if (created) rmSync(dir, { recursive: true, force: true })
  else for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true })
}

export function planText(plan: RestorePlan, dir: string, port: number | string): string {
  const b = plan.backup
  return [
    `restore plan`,
    `  target:      ${describeTarget(plan.target)}`,
    `  repo:        repo${plan.repo}`,
    `  backup set:  ${b.label} (${b.type}, ${new Date(b.start).toISOString()} .. ${new Date(b.stop).toISOString()}, LSN ${b.lsnStart}..${b.lsnStop})`,
    `  WAL replay:  from ${b.lsnStop} to ${plan.target.kind === 'lsn' ? plan.target.lsn : plan.target.kind === 'time' ? new Date(plan.target.at).toISOString() : plan.target.kind === 'name' ? `restore point ${plan.target.name}` : plan.target.kind === 'immediate' ? 'consistency (no replay beyond the backup)' : 'the end of the archive'}`,
    `  window:      ${new Date(plan.window.earliest.time).toISOString()} .. ${new Date(plan.window.latest.time).toISOString()} (repo${plan.repo})`,
    `  into:        ${dir}, port ${port}`,
    ...plan.notes.map((n) => `  note:        ${n}`),
  ].join('\n')
}

/** Restore into a new cluster (the default). */
export async function restoreNew(site: LocalSite, o: RestoreOptions, plan: RestorePlan, audit: AuditLog): Promise<RestoreReport> {
  const t0 = Date.now()
  const port = o.port ?? (await freeScratchPort(site))
  const dir = o.into ?? join(site.l.scratchDir, `restore-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${port}`)
  const created = !existsSync(dir)
  mkdirForSiteUser(dir, 0o700)
  const logFile = join(dir, 'restore.log')
  const timings: Record<string, number> = {}
  try {
    await audit.step('pgbackrest restore', () => site.br.restore(restoreArgs(site, plan, dir, 'promote')), { dir, repo: plan.repo, set: plan.backup.label })
    timings.restoreSeconds = (Date.now() - t0) / 1000
    const t1 = Date.now()
    await audit.step('start restored cluster', () => site.pg.start(dir, logFile, overrides(port, `restore-${port}`, site.l.socketDir)), { port })
    await waitFor('the restored cluster to finish recovery and promote', async () => {
      const p = await probe('restore', { host: '127.0.0.1', port, database: 'postgres' })
      return p.reachable && p.inRecovery === false
    }, 4 * 3600_000, 100)
    timings.recoverySeconds = (Date.now() - t1) / 1000
    await verifyTables(port, true)
    timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
  } catch (e) {
    if (postmasterPid(dir)) await site.pg.stop(dir, 'immediate').catch(() => {})
    const tail = logTail(logFile, 8)
    emptyDir(dir, created)
    throw new Error(`${(e as Error).message}${tail ? `\nserver log:\n${tail}` : ''}\nthe partial restore was removed; nothing else was touched`)
  }
  return {
    mode: 'new-cluster', target: describeTarget(plan.target), repo: plan.repo, backup: plan.backup.label, backupType: plan.backup.type,
    dataDir: dir, port, connect: `psql -h 127.0.0.1 -p ${port} -U postgres ${DATABASE}`,
    reached: reachedFromLog(readFileSync(logFile, 'utf8')), timings, notes: plan.notes,
  }
}

/** Restore over the primary, safely: nothing destructive before the replacement is verified. */
export async function restoreInPlace(site: LocalSite, o: RestoreOptions, plan: RestorePlan, audit: AuditLog): Promise<RestoreReport> {
  const t0 = Date.now()
  const s = site.state()
  const primary = s.primary
  const nd = site.l.node(primary)
  const stamp = new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)
  const staging = `${nd.data}.restoring-${stamp}`
  const port = await freeScratchPort(site)
  const logFile = join(nd.dir, `restore-${stamp}.log`)
  const timings: Record<string, number> = {}

  // 1. restore beside the primary and verify it, paused at the target (read-only, never promoted)
  mkdirForSiteUser(staging, 0o700)
  try {
    await audit.step('pgbackrest restore (staging)', () => site.br.restore(restoreArgs(site, plan, staging, 'hold')), { staging, repo: plan.repo, set: plan.backup.label })
    timings.restoreSeconds = (Date.now() - t0) / 1000
    await site.pg.start(staging, logFile, overrides(port, `restore-${port}`, site.l.socketDir))
    await waitFor('the staged restore to reach its target', async () => {
      const [r] = await query<{ paused: boolean; rec: boolean }>({ host: '127.0.0.1', port, database: 'postgres' },
        `SELECT pg_is_in_recovery() AS rec, CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() = 'paused' ELSE false END AS paused`)
      if (plan.target.kind === 'latest') return r!.rec && (await caughtUp(port, plan.window.latest.lsn))
      return r!.paused
    }, 4 * 3600_000, 100)
    await audit.step('verify staged restore', () => verifyTables(port))
    await site.pg.stop(staging, 'fast')
  } catch (e) {
    if (postmasterPid(staging)) await site.pg.stop(staging, 'immediate').catch(() => {})
    rmSync(staging, { recursive: true, force: true })
    throw new Error(`${(e as Error).message}\nin-place restore abandoned before the swap: the primary ${primary} is running and untouched`)
  }
  timings.verifiedSeconds = (Date.now() - t0) / 1000

  // 2. the swap: fence traffic, stop the old nodes, keep their directories
  const kept: string[] = []
  await audit.step('fence endpoint', () => site.routeEndpoint(undefined))
  const others = NODE_NAMES.filter((n) => n !== primary && s.roles[n] !== 'fenced')
  for (const n of [...others, primary]) if (postmasterPid(site.l.node(n).data)) await audit.step(`stop ${n}`, () => site.pg.stop(site.l.node(n).data, 'fast'))
  const replaced = `${nd.data}.replaced-${stamp}`
  renameSync(nd.data, replaced)
  renameSync(staging, nd.data)
  kept.push(replaced)
  try {
    // the standbys follow the discarded history: keep their directories aside, rebuild below
    writeFileSync(nd.conf, nodeConf(site.l, { name: primary, port: site.port(primary), dataDir: nd.data, syncStandbys: [] }))
    giveToSiteUser(nd.conf)
    await audit.step(`start ${primary} on the restored data`, () => site.pg.start(nd.data, nd.log))
    const conn = site.conn(primary, 'postgres')
    if (plan.target.kind === 'latest') await site.pg.promote(nd.data)
    else {
      await waitFor('recovery to pause at the target again', async () => (await query<{ p: string }>(conn, `SELECT CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'promoted' END AS p`))[0]!.p !== 'not paused', 4 * 3600_000, 100)
      await query(conn, `SELECT CASE WHEN pg_is_in_recovery() THEN pg_wal_replay_resume() END`)
    }
    await waitFor(`${primary} to accept writes`, async () => (await probe(primary, conn)).inRecovery === false, 600_000, 100)
    await query(site.conn(primary), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('restore-verify', $1, 'in-place restore verified') ON CONFLICT DO NOTHING`, [Date.now()])
    // promoted: the restore's recovery settings (the staging path, the target) must not reach
    // the standbys that pg_basebackup clones from this directory; node.conf holds the live ones
    if (clearRestoreSettings(nd.data)) await site.pg.reload(nd.data)
  } catch (e) {
    // roll back to the original directory
    if (postmasterPid(nd.data)) await site.pg.stop(nd.data, 'immediate').catch(() => {})
    renameSync(nd.data, `${nd.data}.failed-${stamp}`)
    renameSync(replaced, nd.data)
    writeFileSync(nd.conf, nodeConf(site.l, { name: primary, port: site.port(primary), dataDir: nd.data, syncStandbys: [] }))
    await site.pg.start(nd.data, nd.log)
    await site.routeEndpoint(primary)
    for (const n of others) await site.ensureRunning(s, n).catch(() => {})
    await site.ensureSyncReplication(s).catch(() => {})
    throw new InputError('in-place restore rolled back', [{ key: 'restore', message: `${(e as Error).message}; the original data directory is back in place and serving`, fix: 'inspect the failed directory, then retry' }])
  }
  timings.untilFirstWriteSeconds = (Date.now() - t0) / 1000
  await audit.step('route endpoint', () => site.routeEndpoint(primary))
  for (const n of others) {
    const d = site.l.node(n).data
    if (existsSync(d)) {
      renameSync(d, `${d}.replaced-${stamp}`)
      kept.push(`${d}.replaced-${stamp}`)
    }
  }
  log.info('rebuilding the standbys from the restored primary')
  await audit.step('rebuild standbys', () => site.up({ scale: s.scale }))
  timings.totalSeconds = (Date.now() - t0) / 1000
  return {
    mode: 'in-place', target: describeTarget(plan.target), repo: plan.repo, backup: plan.backup.label, backupType: plan.backup.type,
    dataDir: nd.data, port: site.port(primary), connect: `psql -h 127.0.0.1 -p ${site.l.ports.endpoint} -U postgres ${DATABASE}  (through the endpoint)`,
    reached: reachedFromLog(readFileSync(logFile, 'utf8') + (existsSync(nd.log) ? readFileSync(nd.log, 'utf8') : '')),
    timings, notes: [...plan.notes, `old data directories kept until you remove them: ${kept.join(', ')}`], keptOldDataDirs: kept,
  }
}

async function caughtUp(port: number, lsn: string): Promise<boolean> {
  const [r] = await query<{ ok: boolean }>({ host: '127.0.0.1', port, database: 'postgres' }, `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok`, [lsn])
  return !!r?.ok
}

