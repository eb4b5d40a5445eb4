/**
 * The PgBouncer adapter: the local traffic endpoint. Switching traffic = rewrite the ini,
 * RELOAD, then drop every server connection still open to the old target (KILL + RESUME),
 * so no session can keep writing to a fenced primary.
 */
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs'
import pg from 'pg'
import type { Runner } from './exec.ts'
import { passwordFor } from './postgres.ts'
import { pidAlive, readPid, waitFor } from './process.ts'
import { giveToSiteUser } from './process.ts'

export interface BouncerPaths {
  ini: string
  /** pgbouncer's auth_file (a secret: the site's password) */
  users: string
  /** the libpq password file its admin console is logged into with */
  passfile: string
  pid: string
  log: string
}

export async function admin(
  port: number,
  sql: string,
  timeoutMs = 2000,
  passfile?: string,
): Promise<Record<string, unknown>[]> {
  const conn = { host: '127.0.0.1', port, user: 'postgres', database: 'pgbouncer', passfile }
  const client = new pg.Client({ ...conn, password: passwordFor(conn), connectionTimeoutMillis: timeoutMs })
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

export function bouncerRunning(p: BouncerPaths): boolean {
  return pidAlive(readPid(p.pid), 'pgbouncer')
}

/** The port the endpoint's ini points at (undefined when fenced or absent). */
export function configuredTarget(p: BouncerPaths): number | undefined {
  if (!existsSync(p.ini)) return undefined
  const m = /^labdojo\s*=.*\bport=(\d+)/m.exec(readFileSync(p.ini, 'utf8'))
  const port = m ? Number(m[1]) : undefined
  return port === 1 ? undefined : port
}

export function writeIni(p: BouncerPaths, text: string): void {
  const tmp = `${p.ini}.tmp`
  writeFileSync(tmp, text, { mode: 0o640 })
  giveToSiteUser(tmp)
  renameSync(tmp, p.ini)
}

export async function startBouncer(run: Runner, p: BouncerPaths, port: number): Promise<void> {
  if (bouncerRunning(p)) return
  if (!existsSync(p.users)) throw new Error(`pgbouncer's auth file ${p.users} is missing`)
  await run('pgbouncer', ['-d', p.ini], { asSiteUser: true, timeoutMs: 20_000 })
  await waitFor(
    `pgbouncer on 127.0.0.1:${port} (log: ${p.log})`,
    async () => (await admin(port, 'SHOW VERSION', 2000, p.passfile)).length > 0,
    15_000,
  )
}

const DBS = ['labdojo', 'postgres']

/**
 * Point the endpoint at the ini's target and cut every session opened against the old one.
 * `fence`: the ini routes nowhere and the databases stay KILLed (paused): new clients queue
 * instead of failing, and are served the moment traffic is switched to the new primary.
 */
export async function switchTarget(p: BouncerPaths, port: number, ini: string, fence = false): Promise<void> {
  writeIni(p, ini)
  await admin(port, 'RELOAD', 2000, p.passfile)
  for (const db of DBS) {
    await admin(port, `KILL ${db}`, 2000, p.passfile).catch(() => {}) // already paused by a fence: nothing to drop
    if (!fence) await admin(port, `RESUME ${db}`, 2000, p.passfile).catch(() => {})
  }
}

export async function stopBouncer(p: BouncerPaths): Promise<boolean> {
  const pid = readPid(p.pid)
  if (!pidAlive(pid, 'pgbouncer')) return false
  process.kill(pid!, 'SIGTERM') // pgbouncer: SIGTERM = immediate shutdown
  await waitFor('pgbouncer to stop', async () => !pidAlive(pid), 10_000).catch(() => process.kill(pid!, 'SIGKILL'))
  return true
}
