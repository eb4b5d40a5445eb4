/**
 * The PostgreSQL adapter: server control (initdb, pg_ctl) through a Runner, SQL through `pg`,
 * and `probe`, which turns a node into an immutable status snapshot with an explicit
 * "unreachable" case.
 */
import pg from 'pg'
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import type { Runner } from './exec.ts'
import { processAlive } from './process.ts'

export const PG_BIN_DIR = process.env.LABDOJO_PG_BIN ?? '/usr/lib/postgresql/15/bin'
export const pgBin = (name: string): string => `${PG_BIN_DIR}/${name}`

export interface Conn {
  host: string
  port: number
  database?: string
  user?: string
  /** a libpq password file (0600) to take the password from; else $PGPASSFILE, then $LABDOJO_PASSFILES */
  passfile?: string
  /**
   * TLS, as libpq's sslmode: `require` encrypts; `verify-full` also checks the server's
   * certificate against `sslRootCert` and its host name. Unset: no TLS (the local site's
   * loopback). A PGO cluster accepts password logins over TLS only (`hostssl`, its hba.go).
   */
  sslmode?: 'disable' | 'require' | 'verify-full'
  /** the CA file `verify-full` checks the server's certificate against */
  sslRootCert?: string
}

/** node-postgres' TLS options for a connection's sslmode. */
function tlsOptions(c: Conn): pg.ClientConfig['ssl'] {
  if (!c.sslmode || c.sslmode === 'disable') return undefined
  if (c.sslmode === 'require') return { rejectUnauthorized: false }
  if (!c.sslRootCert) throw new Error(`sslmode verify-full for ${c.host}:${c.port} needs a CA file (sslRootCert)`)
  return { ca: readFileSync(c.sslRootCert, 'utf8'), rejectUnauthorized: true }
}

/** A libpq password file line's fields: `:` and `\\` escaped with a backslash. */
function passfileFields(line: string): string[] {
  const fields: string[] = []
  let field = ''
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (ch === '\\' && i + 1 < line.length) field += line[++i]
    else if (ch === ':') {
      fields.push(field)
      field = ''
    } else field += ch
  }
  return [...fields, field]
}

/**
 * The password for a connection, read the way libpq reads a password file (first matching
 * line, `*` matches anything). Never from argv or a log: the file is the site's secret, 0600.
 */
export function passwordFor(c: Conn): string | undefined {
  const files = [c.passfile, process.env.PGPASSFILE, ...(process.env.LABDOJO_PASSFILES ?? '').split(':')]
  const want = [c.host, String(c.port), c.database ?? 'postgres', c.user ?? 'postgres']
  for (const file of files) {
    if (!file || !existsSync(file)) continue
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue
      const f = passfileFields(line)
      if (f.length >= 5 && want.every((w, i) => f[i] === '*' || f[i] === w)) return f.slice(4).join(':')
    }
  }
  return undefined
}

/** `queryTimeoutMs` bounds every query client-side too: a pooler may accept the connection and then queue it. */
export async function withClient<T>(
  c: Conn,
  fn: (client: pg.Client) => Promise<T>,
  timeoutMs = 5000,
  queryTimeoutMs?: number,
): Promise<T> {
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user ?? 'postgres',
    database: c.database ?? 'postgres',
    password: passwordFor(c),
    ssl: tlsOptions(c),
    connectionTimeoutMillis: timeoutMs,
    query_timeout: queryTimeoutMs,
    application_name: 'labdojo-dr',
  })
  client.on('error', () => {}) // a server dying under us is reported by the failing query
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(
  c: Conn,
  sql: string,
  params: unknown[] = [],
  timeoutMs = 30000,
): Promise<R[]> {
  return withClient(c, async (client) => {
    if (timeoutMs) await client.query(`SET statement_timeout = ${Math.round(timeoutMs)}`)
    return (await client.query<R>(sql, params)).rows
  })
}

export interface NodeStatus {
  name: string
  port: number
  reachable: boolean
  error?: string
  /**
   * the server answered but would not let the probe read it (a refused login, TLS required, no
   * privilege, no such database, no free connection slot): it is alive, whatever else is wrong
   */
  refused?: boolean
  inRecovery?: boolean
  /** current write LSN on a primary, last replayed LSN on a standby */
  lsn?: string
  receiveLsn?: string | null
  timeline?: number
  systemId?: string
  /** standby: time of the last replayed transaction */
  lastReplayTs?: string | null
  /** standby: walreceiver status */
  streaming?: boolean
}

/**
 * Did a server answer this error? SQLSTATE classes 28 (authorization: a wrong password, no hba
 * rule, TLS required), 42 (no privilege), 3D (no such database) and 53 (no free connection slot)
 * come from a running server that refused the probe; so does a server that declines TLS, or
 * asks for a password the probe does not have (PGO's `postgres` has none). A server starting up
 * or shutting down (57P03) is not serving, and is no refusal.
 */
function refusedByServer(e: unknown): boolean {
  const code = (e as { code?: unknown }).code
  if (typeof code === 'string' && /^(28|42|3D|53)/.test(code)) return true
  return /does not support SSL connections|client password must be a string/.test((e as Error).message ?? '')
}

/** TLS verification failures: the server's certificate does not name the host, or no trusted CA signed it. */
const TLS_CERT_CODES =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/

/**
 * An error waiting will not cure: a login the server refuses (SQLSTATE class 28: password, hba
 * rule) or a certificate the client refuses. A retry loop ends at once on one, naming it.
 */
export function loginWillNotHeal(e: unknown): boolean {
  const code = (e as { code?: unknown }).code
  if (typeof code === 'string' && (/^28/.test(code) || TLS_CERT_CODES.test(code))) return true
  return /does not match certificate's altnames|client password must be a string/.test((e as Error).message ?? '')
}

/** One probe, with a short timeout: never throws; an unreachable node is a status too. */
export async function probe(name: string, c: Conn, timeoutMs = 1500): Promise<NodeStatus> {
  try {
    return await withClient(
      c,
      async (client) => {
        const r = (
          await client.query(`SELECT pg_is_in_recovery() AS rec,
            CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn,
            pg_last_wal_receive_lsn()::text AS receive_lsn,
            (SELECT timeline_id FROM pg_control_checkpoint()) AS cp_tli,
            (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            pg_last_xact_replay_timestamp()::text AS replay_ts,
            (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming')::int AS streaming`)
        ).rows[0]
        let timeline = Number(r.cp_tli)
        if (!r.rec) {
          // a fresh promotion's checkpoint may lag: the WAL file name carries the live timeline
          const w = (await client.query(`SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS tli`)).rows[0]
          timeline = parseInt(w.tli, 16)
        } else {
          // a standby's live timeline: the newest its walreceiver or its pg_wal has seen
          // (the checkpoint's lags until the next restartpoint; the walreceiver dies with its primary)
          // pg_ls_waldir needs pg_monitor (or superuser): a probe user without it still reads the walreceiver's
          const recv = `(SELECT max(received_tli) FROM pg_stat_wal_receiver) AS recv`
          const wal = `(SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' OR name ~ '^[0-9A-F]{8}[.]history$') AS wal`
          const t = (await client.query(`SELECT ${recv}, ${wal}`).catch(() => client.query(`SELECT ${recv}, 0 AS wal`)))
            .rows[0]
          timeline = Math.max(timeline, Number(t?.recv ?? 0), Number(t?.wal ?? 0))
        }
        return {
          name,
          port: c.port,
          reachable: true,
          inRecovery: r.rec as boolean,
          lsn: r.lsn,
          receiveLsn: r.receive_lsn,
          timeline,
          systemId: r.sysid,
          lastReplayTs: r.replay_ts,
          streaming: r.streaming > 0,
        } satisfies NodeStatus
      },
      timeoutMs,
      timeoutMs,
    )
  } catch (e) {
    return { name, port: c.port, reachable: false, error: (e as Error).message, refused: refusedByServer(e) }
  }
}

export function postmasterPid(dataDir: string): number | undefined {
  const f = `${dataDir}/postmaster.pid`
  if (!existsSync(f)) return undefined
  const pid = Number(readFileSync(f, 'utf8').split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  return processAlive(pid) ? pid : undefined
}

/** Processes whose working directory is this data directory (a dead postmaster's orphans). */
export function processesIn(dataDir: string): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      if (readlinkSync(`/proc/${d}/cwd`) === dataDir && processAlive(Number(d))) out.push(Number(d))
    } catch {}
  }
  return out
}

/**
 * After a postmaster was killed, its children linger until they notice; a rewind or restore
 * needs them gone. Wait, then SIGKILL what remains (they belong to a fenced, dead instance).
 */
export async function waitDataDirIdle(dataDir: string, graceMs = 5000): Promise<void> {
  const until = Date.now() + graceMs
  while (processesIn(dataDir).length && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
  for (const pid of processesIn(dataDir)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  while (processesIn(dataDir).length) await new Promise((r) => setTimeout(r, 20))
}

/**
 * A killed postmaster can stay a zombie (this machine's init does not reap it), and PostgreSQL
 * takes a zombie's pid in postmaster.pid or the socket lock file for a live server. When nothing
 * runs in the data directory any more, those lock files are stale: remove them.
 */
export function clearStaleLocks(dataDir: string, socket?: { port: number; dir: string }): void {
  if (processesIn(dataDir).length) return
  const pidFile = `${dataDir}/postmaster.pid`
  const sockets: { port: string; dir: string }[] = socket ? [{ port: String(socket.port), dir: socket.dir }] : []
  if (existsSync(pidFile)) {
    const lines = readFileSync(pidFile, 'utf8').split('\n')
    if (processAlive(Number(lines[0]))) return
    if (lines[3]?.trim() && lines[4]?.trim()) sockets.push({ port: lines[3].trim(), dir: lines[4].trim() })
    rmSync(pidFile, { force: true })
  }
  for (const { port, dir } of sockets) {
    const lock = `${dir}/.s.PGSQL.${port}.lock`
    if (!existsSync(lock) || processAlive(Number(readFileSync(lock, 'utf8').split('\n')[0]))) continue
    for (const f of [lock, `${dir}/.s.PGSQL.${port}`]) rmSync(f, { force: true })
  }
}

/**
 * A SCRAM-SHA-256 verifier for a password (RFC 5802/7677, as PostgreSQL stores it): what
 * ALTER ROLE receives, so the password itself never reaches the server, its logs or argv.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest()
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest()
  const serverKey = hmac(salted, 'Server Key')
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

export class Postgres {
  constructor(readonly run: Runner) {}

  initdb(dataDir: string): Promise<unknown> {
    return this.run(
      pgBin('initdb'),
      ['-D', dataDir, '-k', '-U', 'postgres', '--auth-local=peer', '--auth-host=scram-sha-256', '-E', 'UTF8'].concat([
        '--locale=C.UTF-8',
      ]),
      { asSiteUser: true, timeoutMs: 120_000 },
    )
  }

  /** Set the postgres role's password over the unix socket (peer: as the postgres OS user); the verifier goes on stdin. */
  setPassword(socketDir: string, port: number, password: string): Promise<unknown> {
    // committed locally: on a site whose standbys are not up yet, a synchronous commit would wait forever
    const sql = `SET log_statement = 'none';\nSET synchronous_commit = local;\nALTER ROLE postgres PASSWORD '${scramVerifier(password)}';\n`
    return this.run(
      pgBin('psql'),
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres'],
      { asSiteUser: true, input: sql, timeoutMs: 30_000 },
    )
  }

  async start(
    dataDir: string,
    logFile: string,
    extraOptions = '',
    socket?: { port: number; dir: string },
    env?: Record<string, string>,
  ): Promise<unknown> {
    clearStaleLocks(dataDir, socket)
    const args = ['-D', dataDir, '-l', logFile, '-w', '-t', '120']
    if (extraOptions) args.push('-o', extraOptions)
    return this.run(pgBin('pg_ctl'), [...args, 'start'], { asSiteUser: true, timeoutMs: 130_000, env })
  }

  stop(dataDir: string, mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<unknown> {
    return this.run(pgBin('pg_ctl'), ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'], {
      asSiteUser: true,
      timeoutMs: 70_000,
    })
  }

  reload(dataDir: string): Promise<unknown> {
    return this.run(pgBin('pg_ctl'), ['-D', dataDir, 'reload'], { asSiteUser: true, timeoutMs: 10_000 })
  }

  promote(dataDir: string): Promise<unknown> {
    return this.run(pgBin('pg_ctl'), ['-D', dataDir, '-w', '-t', '60', 'promote'], {
      asSiteUser: true,
      timeoutMs: 70_000,
    })
  }

  basebackup(fromPort: number, host: string, dataDir: string, slot?: string): Promise<unknown> {
    const args = ['-h', host, '-p', String(fromPort), '-U', 'postgres', '-D', dataDir, '-X', 'stream', '-c', 'fast']
    if (slot) args.push('-C', '-S', slot)
    return this.run(pgBin('pg_basebackup'), args, { asSiteUser: true, timeoutMs: 3_600_000 })
  }

  rewind(dataDir: string, sourcePort: number): Promise<unknown> {
    return this.run(
      pgBin('pg_rewind'),
      ['-D', dataDir, `--source-server=host=127.0.0.1 port=${sourcePort} user=postgres dbname=postgres`, '-c'],
      { asSiteUser: true, timeoutMs: 3_600_000 },
    )
  }
}
