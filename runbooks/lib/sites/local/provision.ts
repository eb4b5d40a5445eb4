/**
 * Bringing the local site up and down. `up` is a list of named steps, each of which checks
 * before it acts, so `up` on a healthy site changes nothing, and a node that failover fenced
 * is never started again by `up`.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { InputError } from '../../../../core/errors.ts'
import { mkdirForSiteUser, giveToSiteUser, waitFor } from '../../adapters/process.ts'
import { postmasterPid, probe, query } from '../../adapters/postgres.ts'
import { ensureCert, s3Gated, s3Running, startS3, stopS3, tlsReachable } from '../../adapters/s3-server.ts'
import { log } from '../../output/log.ts'
import { pgbackrestConf, walScript } from './config-files.ts'
import { HELPER_SQL, SCHEMA_SQL, countsFor, generatorSql } from './dataset.ts'
import { ensureEndpoint } from './endpoint.ts'
import { ensureAppTree } from './app-tree.ts'
import type { SiteHandle } from './handle.ts'
import { BUCKET, DATABASE, NODE_NAMES, STANZA, type NodeName } from './layout.ts'
import { writeHba, writeInitdbFiles } from './node-settings.ts'
import { checkBinaries, checkPorts } from './preflight.ts'
import { cloneStandby, ensureRunning, ensureSyncReplication, writeNodeSettingsFor } from './replication.ts'
import { dbPassword, ensureCipherPass, ensureDbPassword, ensureS3Key, registerSiteSecrets } from './secrets.ts'
import { newSiteState, nodesWithRole, type Change, type SiteState } from './state.ts'
import { ensureScheduler, schedulerWanted } from './scheduler.ts'
import { removeOrphanScratch } from './scratch.ts'
import { recoverInterruptedInPlace } from './restore-journal.ts'
import { ensureWarmFollows, ensureWarmReplaying } from './warm.ts'
import { ensureMonitoring } from './monitoring.ts'

/** Build or repair the site; the changes it made (none on a healthy site). */
export async function up(site: SiteHandle, opts: { scale: number; monitoring?: boolean }): Promise<Change[]> {
  await checkBinaries()
  await checkPorts(site)
  const fresh = !site.exists()
  const state = fresh ? newSiteState(site.layout.basePort, opts.scale) : site.state()
  requireSameBasePort(site, state)
  const changes: Change[] = []
  const note = (change: Change | undefined | false) => change && changes.push(change)

  note(ensureCipherPass(site.layout, fresh) && 'generated the repo2 cipher pass (0600, outside the repo)')
  note(
    ensureDbPassword(site.layout) &&
      'wrote the database password file and the endpoint auth file (0600, outside the repo)',
  )
  ensureDirs(site)
  // a new site's erasure ledger exists from the start, empty: a ledger file that is missing later
  // was lost, and a restore then reads the sealed offsite copy or does not serve
  if (fresh) ensureEmptyFile(site.layout.erasureLedger)
  registerSiteSecrets(site.layout)
  note(await ensureOffsiteStore(site))
  writeBackrestConf(site, state)
  if (fresh) site.saveState(state)
  // a killed in-place restore: its journal says how far it got, and it is undone or finished first
  for (const change of await recoverInterruptedInPlace(site)) note(change)
  for (const change of await ensurePrimary(site, state)) note(change)
  note(await ensureOffsiteQueueShipped(site, state))
  note(await ensureStanza(site))
  note(await ensureDataSet(site, state))
  note(await ensureAmcheck(site, state))
  const app = site.layout.app.root
  note((await ensureAppTree(site.run, app, state.scale)) && `generated the LabDojo application tree: ${app}`)
  for (const change of await ensureStandbys(site, state)) note(change)
  for (const gone of await removeOrphanScratch(site)) note(`removed the scratch cluster of a killed runbook: ${gone}`)
  note(await ensureWarmReplaying(site, state))
  for (const change of await ensureWarmFollows(site, state)) note(change)
  note(await ensureSyncReplication(site, state))
  note(await ensureEndpoint(site, state.primary))
  for (const change of await ensureFirstBackups(site, state)) note(change)
  site.saveState(state)
  if (schedulerWanted())
    note(
      ensureScheduler(site.layout, {
        LABDOJO_STATE_DIR: site.layout.stateDir,
        LABDOJO_BASE_PORT: String(site.layout.basePort),
      }) && `started the scheduler (backups, proofs and drills by the policy; log ${site.layout.scheduler.log})`,
    )
  if (opts.monitoring) for (const change of await ensureMonitoring(site)) note(change)
  return changes
}

function requireSameBasePort(site: SiteHandle, state: SiteState): void {
  if (state.basePort === site.layout.basePort) return
  throw new InputError('local site', [
    {
      key: '--base-port',
      value: site.layout.basePort,
      message: `this site was created with base port ${state.basePort}`,
      fix: `pass --base-port ${state.basePort}, or recreate the site with up --reset`,
    },
  ])
}

function ensureDirs(site: SiteHandle): void {
  const { layout } = site
  const { pgbackrest, s3 } = layout
  const dirs = [
    layout.stateDir,
    join(layout.stateDir, 'nodes'),
    pgbackrest.dir,
    pgbackrest.log,
    pgbackrest.lock,
    pgbackrest.spool,
    pgbackrest.outbox,
    // the repo2 lane's own (config-files.ts)
    join(pgbackrest.log, 'repo2-lane'),
    join(pgbackrest.lock, 'repo2-lane'),
    join(pgbackrest.spool, 'repo2-lane'),
  ]
  dirs.push(
    pgbackrest.repo1,
    s3.dir,
    s3.data,
    layout.pgbouncer.dir,
    layout.workload.dir,
    layout.scratchDir,
    layout.socketDir,
  )
  for (const d of [...dirs, ...NODE_NAMES.map((n) => layout.node(n).dir)]) mkdirForSiteUser(d)
}

function ensureEmptyFile(file: string): void {
  if (existsSync(file)) return
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileSync(file, '', { mode: 0o600 })
}

/** The local S3 server (TLS) that holds repo2 and the sealed exports. */
async function ensureOffsiteStore(site: SiteHandle): Promise<Change | undefined> {
  const { layout } = site
  const newCert = await ensureCert(site.run, layout.s3)
  const newKey = ensureS3Key(layout)
  if (newKey) registerSiteSecrets(layout)
  const running = s3Running(layout.s3)
  const gated = s3Gated(layout.s3)
  if (gated && !newCert && !newKey && (await tlsReachable(layout.ports.s3, 3000))) return undefined
  // ours, by its pid file, but not answering (hung: stopped, deadlocked), serving an old
  // certificate or key, or an older site's bare s3rver that lets anyone in. A second server could
  // not take the port, and would orphan this one: stop it by pid, then start afresh
  if (running) await stopS3(layout.s3)
  await startS3(layout.s3, layout.ports.s3, BUCKET, layout.secrets.pgbackrest)
  const why = newKey
    ? ' (the site’s own key replaced s3rver’s public one)'
    : newCert
      ? ' (new certificate)'
      : !gated
        ? ' (it let unsigned requests in)'
        : ' (it was hung)'
  return `${running ? 'restarted' : 'started'} the offsite S3 store${running ? why : ''} on 127.0.0.1:${layout.ports.s3}, every request signed with the site’s key`
}

/**
 * pgbackrest.conf (pg1 is the current primary, then the hot standbys for backup-standby), its
 * one-repo variants for the two WAL lanes, and the archiving script that uses them.
 */
export function writeBackrestConf(site: SiteHandle, state: SiteState): void {
  const { layout, policy } = site
  const hosts = [state.primary, ...nodesWithRole(state, 'hot')].map((n) => ({
    dataDir: layout.node(n).data,
    port: site.port(n),
  }))
  const files: [string, string, number][] = [
    [layout.pgbackrest.conf, pgbackrestConf(layout, policy, hosts), 0o640],
    [layout.pgbackrest.repo1Conf, pgbackrestConf(layout, policy, hosts, 'repo1'), 0o640],
    [layout.pgbackrest.repo2Conf, pgbackrestConf(layout, policy, hosts, 'repo2'), 0o640],
    [layout.pgbackrest.walScript, walScript(layout), 0o750],
  ]
  for (const [file, text, mode] of files) {
    writeFileSync(file, text, { mode })
    chmodSync(file, mode)
    giveToSiteUser(file)
  }
}

async function ensurePrimary(site: SiteHandle, state: SiteState): Promise<Change[]> {
  const changes: Change[] = []
  const primary = state.primary
  if (!existsSync(site.layout.node(primary).data)) {
    log.step(`initdb ${primary} (data checksums on)`)
    await site.pg.initdb(site.layout.node(primary).data)
    writeInitdbFiles(site, primary)
    writeNodeSettingsFor(site, state, primary)
    changes.push(`initdb ${primary}`)
  }
  if (await ensureRunning(site, state, primary))
    changes.push(`started ${primary} (primary) on port ${site.port(primary)}`)
  const auth = await ensureDbAuth(site, primary)
  if (auth) changes.push(auth)
  state.timeline = (await probe(primary, site.conn(primary, 'postgres'))).timeline ?? state.timeline
  return changes
}

/**
 * Password authentication on every node: the postgres role has the site's password and every
 * pg_hba.conf asks for it (SCRAM) on TCP. A site made when the lab trusted 127.0.0.1 moves over
 * here; a password file put back from a secret store is taught to the role again.
 */
async function ensureDbAuth(site: SiteHandle, primary: NodeName): Promise<Change | undefined> {
  const { layout } = site
  const withData = NODE_NAMES.filter((n) => existsSync(layout.node(n).data))
  const hbaChanged = withData.filter((n) => writeHba(layout.node(n).data))
  const loginOk = await query(site.conn(primary, 'postgres'), 'SELECT 1').then(
    () => true,
    () => false,
  )
  const setPassword = hbaChanged.length > 0 || !loginOk
  if (setPassword) await site.pg.setPassword(layout.socketDir, site.port(primary), dbPassword(layout)!)
  // a standby asks for the password only once it has replayed it (the warm one reads the archive)
  const sql = `SELECT pg_current_wal_lsn()::text AS lsn, pg_switch_wal()`
  const [{ lsn }] = (await query<{ lsn: string }>(site.conn(primary, 'postgres'), sql)) as [{ lsn: string }]
  for (const n of hbaChanged) {
    const data = layout.node(n).data
    if (!postmasterPid(data)) continue
    if (n !== primary) await waitReplayed(site, n, lsn)
    await site.pg.reload(data)
  }
  if (hbaChanged.length)
    return `password authentication (SCRAM) on ${hbaChanged.join(', ')}: 127.0.0.1 is no longer trusted`
  return setPassword ? `set the postgres role's password from ${layout.secrets.pgpass}` : undefined
}

async function waitReplayed(site: SiteHandle, node: NodeName, lsn: string): Promise<void> {
  const sql = `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS ok`
  const replayed = async () => (await query<{ ok: boolean }>(site.conn(node, 'postgres'), sql, [lsn]))[0]?.ok
  await waitFor(`${node} to replay the password change (${lsn})`, replayed, 180_000, 200)
}

/** WAL queued for repo2 while it was away ships with the next archived file; `up` ships it now. */
async function ensureOffsiteQueueShipped(site: SiteHandle, state: SiteState): Promise<Change | undefined> {
  const { outbox, walScript: script } = site.layout.pgbackrest
  const queued = () => readdirSync(outbox).filter((f) => !f.startsWith('.')).length
  const before = queued()
  if (!before || !existsSync(script)) return undefined
  const r = await site.run(script, ['ship', site.layout.node(state.primary).data], {
    asSiteUser: true,
    nothrow: true,
    timeoutMs: 30 * 60_000,
  })
  const left = queued()
  if (left)
    log.warn(
      `repo2: ${left} WAL file(s) still queued (${r.stderr.trim().split('\n')[0] || `shipper exit ${r.code}`}); they ship by themselves once the S3 server answers`,
    )
  return before > left
    ? `shipped ${before - left} queued WAL file(s) to repo2${left ? `, ${left} left` : ''}`
    : undefined
}

async function ensureStanza(site: SiteHandle): Promise<Change | undefined> {
  const hasData = existsSync(join(site.layout.pgbackrest.repo1, 'archive', STANZA, 'archive.info'))
  if ((await site.br.info().catch(() => undefined))?.status === 0 || hasData) return undefined
  await site.br.stanzaCreate()
  return `created pgBackRest stanza ${STANZA} on repo1 and repo2`
}

async function ensureDataSet(site: SiteHandle, state: SiteState): Promise<Change | undefined> {
  if (await dataSetLoaded(site, state.primary)) return undefined
  await loadDataSet(site, state.primary, state.scale)
  return `loaded the LabDojo data set (scale ${state.scale})`
}

/** The primary carries amcheck, so standbys and held restores (read-only: nothing can be installed there) can be checked too. */
async function ensureAmcheck(site: SiteHandle, state: SiteState): Promise<Change | undefined> {
  const conn = site.conn(state.primary)
  const sql = `SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'amcheck'`
  if ((await query<{ n: number }>(conn, sql))[0]!.n) return undefined
  await query(conn, 'CREATE EXTENSION IF NOT EXISTS amcheck')
  return 'installed the amcheck extension (standbys and backups from now on carry it)'
}

async function dataSetLoaded(site: SiteHandle, node: NodeName): Promise<boolean> {
  const sql = `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists`
  const rows = await query<{ exists: boolean }>(site.conn(node, 'postgres'), sql, [DATABASE])
  if (!rows[0]?.exists) return false
  const tableSql = `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = 'user_progress'`
  const t = await query<{ n: number }>(site.conn(node), tableSql)
  return (t[0]?.n ?? 0) > 0
}

export async function loadDataSet(site: SiteHandle, node: NodeName, scale: number): Promise<void> {
  const exists = await query<{ e: boolean }>(
    site.conn(node, 'postgres'),
    `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e`,
    [DATABASE],
  )
  if (!exists[0]?.e) await query(site.conn(node, 'postgres'), `CREATE DATABASE ${DATABASE}`)
  await query(site.conn(node), HELPER_SQL + SCHEMA_SQL)
  const phases = generatorSql(countsFor(scale))
  // users and courses first (foreign keys), then the two big tables in parallel
  for (const ph of phases.slice(0, 2)) {
    log.step(`generating ${ph.phase}`)
    await query(site.conn(node), ph.sql, [], 0)
  }
  log.step('generating user_progress and analytics_events')
  await Promise.all(phases.slice(2).map((ph) => query(site.conn(node), ph.sql, [], 0)))
  // settle the data as a production database is: hint bits set and tuples frozen once, here,
  // rather than as a storm of full-page WAL on the first reader after a backup
  await query(site.conn(node), 'VACUUM (FREEZE, ANALYZE)', [], 0)
}

async function ensureStandbys(site: SiteHandle, state: SiteState): Promise<Change[]> {
  const changes: Change[] = []
  for (const n of NODE_NAMES) {
    if (n === state.primary || state.roles[n] === 'fenced') continue
    if (!existsSync(site.layout.node(n).data)) {
      await cloneStandby(site, state, n)
      changes.push(`cloned ${n} as the ${state.roles[n]} standby`)
    }
    if (await ensureRunning(site, state, n))
      changes.push(`started ${n} (${state.roles[n]} standby) on port ${site.port(n)}`)
  }
  for (const n of nodesWithRole(state, 'fenced'))
    log.step(`${n} is fenced (${state.fencedReason?.[n] ?? 'after a failover'}); run failback to rejoin it`)
  return changes
}

/** backup from the hot standby when one is streaming (pg2 in pgbackrest.conf). */
export function backupStandbyArgs(state: SiteState): string[] {
  return nodesWithRole(state, 'hot').length ? ['--backup-standby'] : []
}

/** A site with no backup is no DR site: one full backup into each repo (cold = repo2 alone). */
async function ensureFirstBackups(site: SiteHandle, state: SiteState): Promise<Change[]> {
  const changes: Change[] = []
  const info = await site.br.info()
  for (const repo of [1, 2]) {
    if (info.backups.some((b) => b.repoKey === repo && !b.error)) continue
    log.step(`first full backup into repo${repo}`)
    await site.br.backup('full', repo, backupStandbyArgs(state))
    changes.push(`full backup into repo${repo}`)
  }
  return changes
}

export async function repoDown(
  site: SiteHandle,
  repo: number,
  use: 'read' | 'write' = 'read',
): Promise<string | undefined> {
  const { layout } = site
  if (repo === 2 && !(await tlsReachable(layout.ports.s3, 1500)))
    return `the S3 endpoint 127.0.0.1:${layout.ports.s3} does not answer (TLS connect failed)`
  if (repo === 1 && !existsSync(layout.pgbackrest.repo1)) return `${layout.pgbackrest.repo1} is missing`
  if (repo === 1 && use === 'write') {
    // pgBackRest writes as the site user: a read-only repo would only show as a 60 s archive timeout
    const dirs = [
      layout.pgbackrest.repo1,
      ...['backup', 'archive'].map((d) => join(layout.pgbackrest.repo1, d, STANZA)),
    ]
    for (const dir of dirs.filter((d) => existsSync(d))) {
      const w = await site.run('test', ['-w', dir], { asSiteUser: true, nothrow: true, timeoutMs: 10_000 })
      if (w.code !== 0) return `${dir} is not writable by the site user (read-only file system or permissions)`
    }
  }
  return undefined
}
