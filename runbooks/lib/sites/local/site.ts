/**
 * The real local DR site on 127.0.0.1: primary, hot standby (streaming, slot, sync as the
 * policy says), warm standby (WAL archive only), cold (the offsite repo alone), pgBackRest
 * with a posix repo and an encrypted S3-over-TLS repo, and PgBouncer as the traffic endpoint.
 *
 * Every step checks before it acts, so `up` on a healthy site changes nothing, and a node
 * that failover fenced is never started again by `up`.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync, statSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { DrPolicy } from '../../../../core/policy.ts'
import { lsnDiff, walSegmentDistance } from '../../../../core/wal.ts'
import { InputError, inputError, type Problem } from '../../../../core/errors.ts'
import { ObjectStore } from '../../adapters/object-store.ts'
import { Sealer } from '../../ops/exports/sealed.ts'
import type { Offsite } from '../../ops/exports/offsite.ts'
import type { Inventory } from '../../../../core/inventory.ts'
import { type Runner, isRoot, which } from '../../adapters/exec.ts'
import { Postgres, pgBin, postmasterPid, probe, query, type NodeStatus } from '../../adapters/postgres.ts'
import { PgBackRest } from '../../adapters/pgbackrest.ts'
import { bouncerRunning, configuredTarget, startBouncer, stopBouncer, switchTarget, writeIni, admin } from '../../adapters/pgbouncer.ts'
import { ensureCert, s3Running, startS3, stopS3, tlsReachable } from '../../adapters/s3-server.ts'
import { giveToSiteUser, mkdirForSiteUser, waitFor, pidAlive, readPid } from '../../adapters/process.ts'
import { registerSecret } from '../../output/redact.ts'
import { portFree } from '../../adapters/net.ts'
import { BUCKET, DATABASE, NODE_NAMES, NODE_SITE, STANZA, type Layout, type NodeName } from './layout.ts'
import { PG_HBA, nodeConf, pgbackrestConf, pgbackrestSecretsConf, pgbouncerIni, sharedPostgresConf, withoutRestoreSettings } from './config-files.ts'
import { HELPER_SQL, SCHEMA_SQL, countsFor, generatorSql } from './dataset.ts'

export type NodeRole = 'primary' | 'hot' | 'warm' | 'fenced'

export interface SiteState {
  version: 1
  createdAt: string
  basePort: number
  scale: number
  primary: NodeName
  roles: Record<NodeName, NodeRole>
  /** the primary's timeline when last seen (a dead primary cannot be asked) */
  timeline?: number
  /** why a node is fenced, for the operator */
  fencedReason?: Partial<Record<NodeName, string>>
}

export const S3_KEY = 'S3RVER'
export const S3_SECRET = 'S3RVER'

export const REQUIRED_BINARIES = ['initdb', 'pg_ctl', 'postgres', 'pg_basebackup', 'pg_rewind', 'pg_waldump', 'pg_dump', 'pg_restore'] as const
export const APT_HINT = 'apt-get install -y postgresql-15 pgbackrest pgbouncer openssl'

export type Change = string

/** Drop a pgBackRest restore's recovery settings from a site node's postgresql.auto.conf (node.conf holds them). */
export function clearRestoreSettings(dataDir: string): boolean {
  const f = join(dataDir, 'postgresql.auto.conf')
  if (!existsSync(f)) return false
  const before = readFileSync(f, 'utf8')
  const after = withoutRestoreSettings(before)
  if (after === before) return false
  writeFileSync(f, after)
  giveToSiteUser(f)
  return true
}

export class LocalSite {
  readonly pg: Postgres
  readonly br: PgBackRest
  private say: (msg: string) => void

  constructor(readonly l: Layout, readonly policy: DrPolicy, readonly run: Runner, say?: (msg: string) => void) {
    this.pg = new Postgres(run)
    this.br = new PgBackRest(run, { config: l.pgbackrest.conf, includePath: l.secrets.dir, stanza: STANZA })
    this.say = say ?? (() => {})
  }

  // ---------------------------------------------------------------- state

  exists(): boolean {
    return existsSync(this.l.siteFile)
  }

  state(): SiteState {
    if (!this.exists()) throw new InputError('local site', [{ key: '--stack local', value: this.l.stateDir, message: 'no local site here', fix: 'run `npx zx runbooks/local.ts up` first' }])
    return JSON.parse(readFileSync(this.l.siteFile, 'utf8')) as SiteState
  }

  saveState(s: SiteState): void {
    const tmp = `${this.l.siteFile}.tmp`
    writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n')
    renameSync(tmp, this.l.siteFile)
    this.writeInventory(s)
  }

  port(n: NodeName): number {
    return this.l.ports[n]
  }

  conn(n: NodeName, database = DATABASE) {
    return { host: '127.0.0.1', port: this.port(n), database }
  }

  endpointConn(database = DATABASE) {
    return { host: '127.0.0.1', port: this.l.ports.endpoint, database }
  }

  nodesWithRole(s: SiteState, role: NodeRole): NodeName[] {
    return NODE_NAMES.filter((n) => s.roles[n] === role)
  }

  // ---------------------------------------------------------------- preflight

  /** Every binary the site needs; all missing ones are reported at once (exit 2). */
  async checkBinaries(): Promise<void> {
    const missing: string[] = []
    for (const b of REQUIRED_BINARIES) if (!existsSync(pgBin(b))) missing.push(pgBin(b))
    for (const b of ['pgbackrest', 'pgbouncer', 'openssl']) if (!(await which(b))) missing.push(b)
    if (missing.length)
      throw new InputError('missing binaries', [{ key: 'PATH', value: missing, message: 'required programs are not installed', fix: isRoot() ? APT_HINT : `as root: ${APT_HINT}` }])
  }

  /** Ports the site needs that something else holds (ports held by our own running parts are fine). */
  async checkPorts(): Promise<void> {
    const ours = new Set<number>()
    if (this.exists()) {
      for (const n of NODE_NAMES) if (postmasterPid(this.l.node(n).data)) ours.add(this.port(n))
      if (bouncerRunning(this.l.pgbouncer)) ours.add(this.l.ports.endpoint)
      if (s3Running(this.l.s3)) ours.add(this.l.ports.s3)
    }
    const wanted: [string, number][] = [['endpoint (PgBouncer)', this.l.ports.endpoint], ['node1', this.l.ports.node1], ['node2', this.l.ports.node2], ['node3', this.l.ports.node3], ['s3', this.l.ports.s3]]
    const problems: Problem[] = []
    for (const [what, port] of wanted) {
      if (ours.has(port)) continue
      if (!(await portFree(port)))
        problems.push({ key: `port ${port}`, value: what, message: `127.0.0.1:${port} is already in use by another process`, fix: `stop that process or pick another range with --base-port (the site uses ${this.l.basePort}..${this.l.basePort + 19})` })
    }
    if (problems.length) throw new InputError('ports taken', problems)
  }

  // ---------------------------------------------------------------- up

  async up(opts: { scale: number }): Promise<Change[]> {
    await this.checkBinaries()
    await this.checkPorts()
    const changes: Change[] = []
    const fresh = !this.exists()
    const s: SiteState = fresh
      ? { version: 1, createdAt: new Date().toISOString(), basePort: this.l.basePort, scale: opts.scale, primary: 'node1', roles: { node1: 'primary', node2: 'hot', node3: 'warm' } }
      : this.state()
    if (!fresh && s.basePort !== this.l.basePort)
      throw new InputError('local site', [{ key: '--base-port', value: this.l.basePort, message: `this site was created with base port ${s.basePort}`, fix: `pass --base-port ${s.basePort}, or recreate the site with up --reset` }])

    if (this.ensureSecrets(fresh)) changes.push('generated the repo2 cipher pass (0600, outside the repo)')
    this.ensureDirs()
    this.loadSecrets()
    await ensureCert(this.run, this.l.s3)
    if (!(s3Running(this.l.s3) && (await tlsReachable(this.l.ports.s3)))) {
      await startS3(this.l.s3, this.l.ports.s3, BUCKET)
      changes.push(`started s3rver (TLS) on 127.0.0.1:${this.l.ports.s3}`)
    }
    this.writeBackrestConf(s)
    if (fresh) this.saveState(s)

    // primary
    const p = s.primary
    if (!existsSync(this.l.node(p).data)) {
      this.say(`initdb ${p} (data checksums on)`)
      await this.pg.initdb(this.l.node(p).data)
      this.writeNodeFiles(s, p, true)
      changes.push(`initdb ${p}`)
    }
    if (await this.ensureRunning(s, p)) changes.push(`started ${p} (primary) on port ${this.port(p)}`)
    s.timeline = (await probe(p, this.conn(p, 'postgres'))).timeline ?? s.timeline

    if ((await this.br.info().catch(() => undefined))?.status !== 0 && !(await this.stanzaHasData())) {
      await this.br.stanzaCreate()
      changes.push(`created pgBackRest stanza ${STANZA} on repo1 and repo2`)
    }

    if (!(await this.schemaLoaded(p))) {
      await this.loadData(p, s.scale)
      changes.push(`loaded the LabDojo data set (scale ${s.scale})`)
    }

    // standbys
    for (const n of NODE_NAMES) {
      if (n === p || s.roles[n] === 'fenced') continue
      if (!existsSync(this.l.node(n).data)) {
        await this.cloneStandby(s, n)
        changes.push(`cloned ${n} as the ${s.roles[n]} standby`)
      }
      if (await this.ensureRunning(s, n)) changes.push(`started ${n} (${s.roles[n]} standby) on port ${this.port(n)}`)
    }
    for (const n of this.nodesWithRole(s, 'fenced')) this.say(`${n} is fenced (${s.fencedReason?.[n] ?? 'after a failover'}); run failback to rejoin it`)

    // synchronous replication once a hot standby streams
    const sync = await this.ensureSyncReplication(s)
    if (sync) changes.push(sync)

    // endpoint: (re)written when its config differs from what the site needs
    const ini = pgbouncerIni(this.l, this.port(p))
    const current = existsSync(this.l.pgbouncer.ini) ? readFileSync(this.l.pgbouncer.ini, 'utf8') : ''
    if (current !== ini || !bouncerRunning(this.l.pgbouncer)) {
      const running = bouncerRunning(this.l.pgbouncer)
      if (running) await switchTarget(this.l.pgbouncer, this.l.ports.endpoint, ini)
      else {
        writeIni(this.l.pgbouncer, ini)
        await startBouncer(this.run, this.l.pgbouncer, this.l.ports.endpoint)
      }
      changes.push(`${running ? 'reconfigured' : 'started'} the PgBouncer endpoint 127.0.0.1:${this.l.ports.endpoint} -> ${p}`)
    }

    // a site with no backup is no DR site: one full backup into each repo (cold = repo2 alone)
    const info = await this.br.info()
    for (const repo of [1, 2]) {
      if (!info.backups.some((b) => b.repoKey === repo && !b.error)) {
        this.say(`first full backup into repo${repo}`)
        await this.br.backup('full', repo, this.backupStandbyArgs(s))
        changes.push(`full backup into repo${repo}`)
      }
    }
    this.saveState(s)
    return changes
  }

  private ensureDirs(): void {
    const l = this.l
    for (const d of [l.stateDir, `${l.stateDir}/nodes`, l.pgbackrest.dir, l.pgbackrest.log, l.pgbackrest.lock, l.pgbackrest.spool, l.pgbackrest.repo1, l.s3.dir, l.s3.data, l.pgbouncer.dir, l.workload.dir, l.scratchDir, l.socketDir, ...NODE_NAMES.map((n) => l.node(n).dir)]) {
      mkdirForSiteUser(d)
    }
  }

  /**
   * Generate the repo2 cipher pass once, for a new site: 0600, owned by the site user, outside
   * the repo. An existing site whose pass is gone is refused: a new pass could not read repo2.
   */
  private ensureSecrets(fresh: boolean): boolean {
    const f = this.l.secrets.pgbackrest
    if (!fresh || existsSync(f)) {
      this.requireCipherPass()
      return false
    }
    mkdirForSiteUser(this.l.secrets.dir, 0o700)
    const pass = randomBytes(48).toString('base64url')
    writeFileSync(f, pgbackrestSecretsConf(pass, S3_KEY, S3_SECRET), { mode: 0o600 })
    giveToSiteUser(f)
    return true
  }

  /** The secrets file's key=value lines ({} when it is absent). */
  private secrets(): Record<string, string> {
    const f = this.l.secrets.pgbackrest
    if (!existsSync(f)) return {}
    return Object.fromEntries(readFileSync(f, 'utf8').split('\n').map((l) => /^([\w-]+)=(.+)$/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!]))
  }

  /** Why pgBackRest cannot get repo2's cipher pass; undefined when it can. */
  cipherPassMissing(): string | undefined {
    if (process.env.PGBACKREST_REPO2_CIPHER_PASS) return undefined
    const f = this.l.secrets.pgbackrest
    if (!existsSync(f)) return `${f} does not exist`
    try {
      if (!this.secrets()['repo2-cipher-pass']) return `${f} has no repo2-cipher-pass line`
    } catch (e) {
      return `${f} cannot be read (${(e as NodeJS.ErrnoException).code})`
    }
    return undefined
  }

  /** pgBackRest reads the pass for every command, repo1's included: the configuration names repo2 encrypted. */
  requireCipherPass(): void {
    const why = this.cipherPassMissing()
    if (why) throw inputError('repo2 cipher pass', why, 'pgBackRest needs it for every command, repo1\'s too: the site\'s configuration names repo2 encrypted (aes-256-cbc). Nothing was changed',
      `put the pass back from your secret store: ${this.l.secrets.pgbackrest} (owner postgres, mode 0600) with the line repo2-cipher-pass=<pass> (and repo2-s3-key, repo2-s3-key-secret), or export PGBACKREST_REPO2_CIPHER_PASS for this run`)
  }

  /** The offsite bucket (repo2's S3 endpoint) and the sealer for what we store there ourselves. */
  offsite(): Offsite {
    this.requireCipherPass()
    const kv = this.secrets() // the pass may come from the environment alone
    const env = process.env
    const store = new ObjectStore({
      endpoint: `https://127.0.0.1:${this.l.ports.s3}`, bucket: BUCKET, region: 'us-east-1',
      accessKeyId: env.PGBACKREST_REPO2_S3_KEY ?? kv['repo2-s3-key'] ?? S3_KEY, secretAccessKey: env.PGBACKREST_REPO2_S3_KEY_SECRET ?? kv['repo2-s3-key-secret'] ?? S3_SECRET,
      ca: readFileSync(this.l.s3.cert, 'utf8'),
    })
    return { store, sealer: new Sealer(env.PGBACKREST_REPO2_CIPHER_PASS ?? kv['repo2-cipher-pass']!) }
  }

  /** Register every secret with the redactor, so no log line can carry one. */
  loadSecrets(): void {
    for (const [k, v] of Object.entries(this.secrets())) if (/^repo\d+-cipher-pass$/.test(k)) registerSecret(v)
  }

  writeBackrestConf(s: SiteState): void {
    const hosts = [s.primary, ...this.nodesWithRole(s, 'hot')].map((n) => ({ dataDir: this.l.node(n).data, port: this.port(n) }))
    writeFileSync(this.l.pgbackrest.conf, pgbackrestConf(this.l, this.policy, hosts), { mode: 0o640 })
    giveToSiteUser(this.l.pgbackrest.conf)
  }

  /** backup from the hot standby when one is streaming (pg2 in pgbackrest.conf). */
  backupStandbyArgs(s: SiteState): string[] {
    return this.nodesWithRole(s, 'hot').length ? ['--backup-standby'] : []
  }

  /** postgresql.conf / pg_hba.conf (only for a fresh initdb) and node.conf (always). */
  writeNodeFiles(s: SiteState, n: NodeName, freshInitdb = false): void {
    const nd = this.l.node(n)
    if (freshInitdb) {
      writeFileSync(`${nd.data}/postgresql.conf`, readFileSync(`${nd.data}/postgresql.conf`, 'utf8') + sharedPostgresConf(this.l, this.policy))
      writeFileSync(`${nd.data}/pg_hba.conf`, PG_HBA)
    }
    const role = s.roles[n]
    const conf = nodeConf(this.l, {
      name: n,
      port: this.port(n),
      dataDir: nd.data,
      upstreamPort: role === 'hot' ? this.port(s.primary) : undefined,
      slot: role === 'hot' ? n : undefined,
      syncStandbys: undefined,
      fenced: role === 'fenced',
    })
    writeFileSync(nd.conf, conf, { mode: 0o640 })
    giveToSiteUser(nd.conf)
  }

  /** Start a node unless it runs; returns true when it started it. */
  async ensureRunning(s: SiteState, n: NodeName): Promise<boolean> {
    if (s.roles[n] === 'fenced') return false
    const nd = this.l.node(n)
    if (postmasterPid(nd.data)) return false
    if (!existsSync(nd.conf)) this.writeNodeFiles(s, n)
    await this.pg.start(nd.data, nd.log, '', { port: this.port(n), dir: this.l.socketDir })
    return true
  }

  private async stanzaHasData(): Promise<boolean> {
    return existsSync(`${this.l.pgbackrest.repo1}/archive/${STANZA}/archive.info`)
  }

  private async schemaLoaded(n: NodeName): Promise<boolean> {
    const rows = await query<{ exists: boolean }>(this.conn(n, 'postgres'), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists`, [DATABASE])
    if (!rows[0]?.exists) return false
    const t = await query<{ n: number }>(this.conn(n), `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = 'user_progress'`)
    return (t[0]?.n ?? 0) > 0
  }

  async loadData(n: NodeName, scale: number): Promise<void> {
    const exists = await query<{ e: boolean }>(this.conn(n, 'postgres'), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS e`, [DATABASE])
    if (!exists[0]?.e) await query(this.conn(n, 'postgres'), `CREATE DATABASE ${DATABASE}`)
    await query(this.conn(n), HELPER_SQL + SCHEMA_SQL)
    const phases = generatorSql(countsFor(scale))
    // users and courses first (foreign keys), then the two big tables in parallel
    for (const ph of phases.slice(0, 2)) {
      this.say(`generating ${ph.phase}`)
      await query(this.conn(n), ph.sql, [], 0)
    }
    this.say('generating user_progress and analytics_events')
    await Promise.all(phases.slice(2).map((ph) => query(this.conn(n), ph.sql, [], 0)))
    // settle the data as a production database is: hint bits set and tuples frozen once, here,
    // rather than as a storm of full-page WAL on the first reader after a backup
    await query(this.conn(n), 'VACUUM (FREEZE, ANALYZE)', [], 0)
  }

  /** A standby from scratch: pg_basebackup of the primary (over a slot for a hot one). */
  async cloneStandby(s: SiteState, n: NodeName): Promise<void> {
    const nd = this.l.node(n)
    const role = s.roles[n]
    this.say(`cloning ${n} from ${s.primary} (${role})`)
    if (role === 'hot') {
      await query(this.conn(s.primary, 'postgres'), `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [n])
    }
    await this.pg.basebackup(this.port(s.primary), '127.0.0.1', nd.data, role === 'hot' ? n : undefined)
    writeFileSync(`${nd.data}/standby.signal`, '')
    giveToSiteUser(`${nd.data}/standby.signal`)
    this.writeNodeFiles(s, n)
  }

  /** In synchronous mode the primary waits for ANY 1 of the streaming hot standbys. */
  async ensureSyncReplication(s: SiteState): Promise<string | undefined> {
    const hot = this.nodesWithRole(s, 'hot')
    const want = this.policy.sites.hot.replication === 'synchronous' ? hot : []
    const nd = this.l.node(s.primary)
    const current = readFileSync(nd.conf, 'utf8')
    if (want.length) {
      await waitFor(`${want.join(', ')} to stream from ${s.primary}`, async () => {
        const r = await query<{ n: number }>(this.conn(s.primary, 'postgres'), `SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = ANY($1) AND state = 'streaming'`, [want])
        return (r[0]?.n ?? 0) > 0
      }, 60_000, 200)
    }
    const conf = nodeConf(this.l, { name: s.primary, port: this.port(s.primary), dataDir: nd.data, syncStandbys: want })
    const wantSetting = want.length ? `ANY 1 (${want.join(', ')})` : ''
    const changed = conf !== current
    if (changed) {
      writeFileSync(nd.conf, conf)
      await this.pg.reload(nd.data)
    }
    // a reload is asynchronous: until the primary runs with the setting, commits are not synchronous
    await waitFor('the primary to apply synchronous_standby_names', async () => {
      const [r] = await query<{ v: string; n: number }>(this.conn(s.primary, 'postgres'), `SELECT current_setting('synchronous_standby_names') AS v,
        (SELECT count(*)::int FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')) AS n`)
      return r!.v === wantSetting && (want.length === 0 || r!.n > 0)
    }, 60_000, 20)
    if (!changed) return undefined
    return want.length ? `synchronous replication on ${s.primary}: ANY 1 (${want.join(', ')})` : `asynchronous replication on ${s.primary}`
  }

  /** A fast reachability check of a repo's storage; undefined when reachable. */
  async repoDown(repo: number): Promise<string | undefined> {
    if (repo === 2 && !(await tlsReachable(this.l.ports.s3, 1500))) return `the S3 endpoint 127.0.0.1:${this.l.ports.s3} does not answer (TLS connect failed)`
    if (repo === 1 && !existsSync(this.l.pgbackrest.repo1)) return `${this.l.pgbackrest.repo1} is missing`
    return undefined
  }

  // ---------------------------------------------------------------- down

  async down(): Promise<Change[]> {
    const changes: Change[] = []
    const { stopWriter } = await import('./workload.ts')
    if (await stopWriter(this.l)) changes.push('stopped the workload writer')
    if (await stopBouncer(this.l.pgbouncer)) changes.push('stopped PgBouncer')
    // standbys first, so the primary's shutdown checkpoint is not waiting on them
    const s = this.exists() ? this.state() : undefined
    const order = s ? [...NODE_NAMES.filter((n) => n !== s.primary), s.primary] : [...NODE_NAMES]
    for (const n of order) {
      if (postmasterPid(this.l.node(n).data)) {
        await this.pg.stop(this.l.node(n).data, 'fast')
        changes.push(`stopped ${n}`)
      }
    }
    for (const d of listDirs(this.l.scratchDir)) {
      if (postmasterPid(d)) {
        await this.pg.stop(d, 'fast')
        changes.push(`stopped scratch cluster ${d}`)
      }
    }
    if (await stopS3(this.l.s3)) changes.push('stopped s3rver')
    return changes
  }

  /** Delete the site's state and secrets (after down). */
  purge(): void {
    rmSync(this.l.stateDir, { recursive: true, force: true })
    rmSync(this.l.secrets.dir, { recursive: true, force: true })
    if (this.l.socketDir.startsWith('/tmp/labdojo-')) rmSync(this.l.socketDir, { recursive: true, force: true })
  }

  // ---------------------------------------------------------------- status

  async status(): Promise<SiteStatus> {
    const s = this.state()
    this.loadSecrets()
    const probes = await Promise.all(NODE_NAMES.map((n) => probe(n, this.conn(n, 'postgres'))))
    const byName = Object.fromEntries(probes.map((p) => [p.name, p])) as Record<NodeName, NodeStatus>
    const primary = byName[s.primary]
    const problems: string[] = []

    let replication: { application_name: string; state: string; sync_state: string; replay_lsn: string | null; replay_lag_s: number | null }[] = []
    let archiver: { last_archived_wal: string | null; last_archived_age_s: number | null; failed_count: number; last_failed_wal: string | null; failing: boolean; current_wal: string } | undefined
    if (primary.reachable && !primary.inRecovery) {
      replication = await query(this.conn(s.primary, 'postgres'), `SELECT application_name, state, sync_state, replay_lsn::text, extract(epoch FROM replay_lag)::float8 AS replay_lag_s FROM pg_stat_replication`)
      archiver = (
        await query<NonNullable<typeof archiver>>(this.conn(s.primary, 'postgres'), `SELECT last_archived_wal, extract(epoch FROM now() - last_archived_time)::float8 AS last_archived_age_s, failed_count::int,
          last_failed_wal, coalesce(last_failed_time > last_archived_time, last_failed_time IS NOT NULL) AS failing, pg_walfile_name(pg_current_wal_lsn()) AS current_wal FROM pg_stat_archiver`)
      )[0]
    } else problems.push(`primary ${s.primary} is ${primary.reachable ? 'in recovery' : `unreachable (${primary.error})`}`)

    const nodes = NODE_NAMES.map((n) => {
      const p = byName[n]
      const role = s.roles[n]
      const rep = replication.find((r) => r.application_name === n)
      const lagBytes = n === s.primary ? 0 : lsnDiff(primary.lsn, p.lsn)
      const replayAge = p.lastReplayTs ? (Date.now() - Date.parse(p.lastReplayTs)) / 1000 : null
      let healthy = p.reachable
      if (role === 'fenced') healthy = !p.reachable || p.inRecovery === true
      else if (role === 'primary') healthy = p.reachable && p.inRecovery === false
      else if (role === 'hot') healthy = p.reachable && p.inRecovery === true && rep?.state === 'streaming'
      else if (role === 'warm') healthy = p.reachable && p.inRecovery === true && (lagBytes === undefined || lagBytes < 64 * 1024 * 1024 || (replayAge ?? 0) < this.policy.sites.warm.rpo)
      if (!healthy) problems.push(`${n} (${role}) is not healthy${p.error ? `: ${p.error}` : ''}`)
      return {
        name: n, site: NODE_SITE[n], role, port: this.port(n), pid: postmasterPid(this.l.node(n).data) ?? null,
        live: (p.reachable ? (p.inRecovery ? 'standby' : 'primary') : 'down') as 'primary' | 'standby' | 'down', lsn: p.lsn ?? null, timeline: p.timeline ?? null,
        replicationLagBytes: lagBytes ?? null, replayLagSeconds: rep?.replay_lag_s ?? (role === 'warm' ? replayAge : null),
        streaming: rep?.state === 'streaming', syncState: rep?.sync_state ?? null, healthy,
      }
    })

    const archiveLagSegments = archiver?.last_archived_wal ? walSegmentDistance(archiver.current_wal, archiver.last_archived_wal) : null
    if (archiver?.failing) problems.push(`archiving is failing (last failed WAL ${archiver.last_failed_wal})`)

    const repos = await Promise.all([1, 2].map(async (repo) => {
      const down = await this.repoDown(repo)
      if (down) {
        problems.push(`repo${repo} unreachable: ${down}`)
        return { index: repo, type: repo === 1 ? 'posix' : 's3', healthy: false, message: down, backups: 0, latestBackup: null, archiveMax: null }
      }
      try {
        const info = await this.br.info(repo)
        const r = info.repos.find((x) => x.key === repo)
        const backups = info.backups.filter((b) => b.repoKey === repo)
        const arch = info.archives.find((a) => a.repoKey === repo)
        const healthy = r?.status === 0
        if (!healthy) problems.push(`repo${repo}: ${r?.message ?? info.message}`)
        return { index: repo, type: repo === 1 ? 'posix' : 's3', healthy, message: r?.message ?? info.message, backups: backups.length, latestBackup: backups.at(-1)?.label ?? null, archiveMax: arch?.max ?? null }
      } catch (e) {
        problems.push(`repo${repo} unreachable: ${(e as Error).message.split('\n')[0]}`)
        return { index: repo, type: repo === 1 ? 'posix' : 's3', healthy: false, message: (e as Error).message.split('\n').slice(0, 3).join(' '), backups: 0, latestBackup: null, archiveMax: null }
      }
    }))

    const targetPort = configuredTarget(this.l.pgbouncer)
    const targetNode = NODE_NAMES.find((n) => this.port(n) === targetPort) ?? null
    const via = await probe('endpoint', this.endpointConn('postgres'))
    let viaPort: number | null = null
    if (via.reachable) viaPort = (await query<{ p: number }>(this.endpointConn('postgres'), 'SELECT inet_server_port() AS p')).at(0)?.p ?? null
    const endpointHealthy = bouncerRunning(this.l.pgbouncer) && targetNode === s.primary && via.reachable && via.inRecovery === false && viaPort === this.port(s.primary)
    if (!endpointHealthy) problems.push(`endpoint 127.0.0.1:${this.l.ports.endpoint} does not route writes to primary ${s.primary} (target ${targetNode ?? 'none'}${via.reachable ? '' : `, ${via.error}`})`)

    return {
      stack: 'local', stateDir: this.l.stateDir, healthy: problems.length === 0, problems,
      primary: s.primary,
      nodes,
      archive: archiver ? { lastArchivedWal: archiver.last_archived_wal, lastArchivedAgeSeconds: archiver.last_archived_age_s, currentWal: archiver.current_wal, lagSegments: archiveLagSegments, failedCount: archiver.failed_count, failing: archiver.failing } : null,
      repos,
      endpoint: { port: this.l.ports.endpoint, running: bouncerRunning(this.l.pgbouncer), target: targetNode, targetPort: targetPort ?? null, reachable: via.reachable, routesToPort: viaPort, healthy: endpointHealthy },
      s3: { port: this.l.ports.s3, running: s3Running(this.l.s3) },
    }
  }

  // ---------------------------------------------------------------- inventory

  inventory(s = this.state()): Inventory {
    const node = (n: NodeName) => ({ name: n, site: NODE_SITE[n], role: n === 'node1' ? ('primary' as const) : ('standby' as const), host: '127.0.0.1', port: this.port(n), database: DATABASE, user: 'postgres', dataDir: this.l.node(n).data })
    return {
      stack: 'local',
      provider: 'local',
      sites: [
        { name: 'primary', provider: 'local', region: '127.0.0.1', nodes: ['node1'] },
        { name: 'hot', provider: 'local', region: '127.0.0.1', nodes: ['node2'] },
        { name: 'warm', provider: 'local', region: '127.0.0.1', nodes: ['node3'] },
        { name: 'cold', provider: 'local', region: '127.0.0.1', nodes: [] },
      ],
      nodes: NODE_NAMES.map(node),
      pgbackrest: {
        stanza: STANZA,
        configPath: this.l.pgbackrest.conf,
        repos: [
          { index: 1, type: 'posix', path: this.l.pgbackrest.repo1, encrypted: false, site: 'primary' },
          { index: 2, type: 's3', path: '/pgbackrest', bucket: BUCKET, endpoint: `127.0.0.1:${this.l.ports.s3}`, region: 'us-east-1', encrypted: true, cipherPassRef: this.l.secrets.pgbackrest, site: 'cold' },
        ],
      },
      buckets: [{ name: BUCKET, provider: 'local', region: 'us-east-1', purpose: 'offsite', versioning: false, objectLockDays: 0 }],
      keys: [{ id: `file:${this.l.secrets.pgbackrest}`, provider: 'local', purpose: 'repo2 cipher pass', rotationDays: 0 }],
      endpoint: { kind: 'pgbouncer', host: '127.0.0.1', port: this.l.ports.endpoint, database: DATABASE, adminUser: 'postgres' },
      healthChecks: NODE_NAMES.map((n) => ({ site: NODE_SITE[n], url: `postgresql://postgres@127.0.0.1:${this.port(n)}/postgres` })),
    }
  }

  private writeInventory(s: SiteState): void {
    writeFileSync(this.l.inventoryFile, JSON.stringify(this.inventory(s), null, 2) + '\n')
  }

  /** Point the endpoint at a node, or fence it (undefined: route nowhere, clients queue). */
  async routeEndpoint(target: NodeName | undefined): Promise<void> {
    await switchTarget(this.l.pgbouncer, this.l.ports.endpoint, pgbouncerIni(this.l, target ? this.port(target) : undefined), target === undefined)
  }

  async endpointAdmin(sql: string) {
    return admin(this.l.ports.endpoint, sql)
  }

  writerPid(): number | undefined {
    const pid = readPid(this.l.workload.pid)
    return pidAlive(pid, 'writer') ? pid : undefined
  }
}

export type SiteStatus = {
  stack: 'local'
  stateDir: string
  healthy: boolean
  problems: string[]
  primary: NodeName
  nodes: {
    name: NodeName; site: string; role: NodeRole; port: number; pid: number | null; live: 'primary' | 'standby' | 'down'
    lsn: string | null; timeline: number | null; replicationLagBytes: number | null; replayLagSeconds: number | null
    streaming: boolean; syncState: string | null; healthy: boolean
  }[]
  archive: { lastArchivedWal: string | null; lastArchivedAgeSeconds: number | null; currentWal: string; lagSegments: number | null; failedCount: number; failing: boolean } | null
  repos: { index: number; type: string; healthy: boolean; message: string; backups: number; latestBackup: string | null; archiveMax: string | null }[]
  endpoint: { port: number; running: boolean; target: NodeName | null; targetPort: number | null; reachable: boolean; routesToPort: number | null; healthy: boolean }
  s3: { port: number; running: boolean }
}


function listDirs(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).map((d) => `${dir}/${d}`).filter((d) => statSync(d).isDirectory())
}
