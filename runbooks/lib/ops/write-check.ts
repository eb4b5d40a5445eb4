/**
 * The one check that a server takes writes, used by every procedure that must know it
 * (failover, in-place restore and its rollback, restores into a scratch cluster, proofs): a row
 * with a fresh nonce committed into a table of our own (the application's tables are not ours to
 * write into), and, when the caller names the server it expects, the same row read back there
 * directly. A write through an endpoint that reached another server (an old primary that DNS or
 * a stale route still names) fails the check at once, naming both: it is never retried into a
 * pass.
 */
import { randomUUID } from 'node:crypto'
import { loginWillNotHeal, query, type Conn } from '../adapters/postgres.ts'
import { waitFor } from '../adapters/process.ts'

export const WRITE_CHECKS_TABLE = 'labdojo_dr_write_checks'

const create = `CREATE TABLE IF NOT EXISTS ${WRITE_CHECKS_TABLE} (at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)`
const insert = `INSERT INTO ${WRITE_CHECKS_TABLE} (note) VALUES ($1)`
// a standby of the server that took the write could hold the row too: the expected server must be a primary
const found = `SELECT pg_is_in_recovery() AS standby, (SELECT count(*)::int FROM ${WRITE_CHECKS_TABLE} WHERE note = $1) AS n`

export interface WriteCheck {
  /** what the row says: which procedure wrote it, and why */
  note: string
  /** the server the write must land on, read directly (not through `conn`) */
  landsOn?: { name: string; conn: Conn }
  /** per statement, ms */
  timeoutMs?: number
}

/** The write reached a server other than the one expected. */
export class WrongServer extends Error {}

/** One write, committed; with `landsOn`, proven to be on that server. */
export async function proveWritable(conn: Conn, c: WriteCheck): Promise<void> {
  const note = c.landsOn ? `${c.note} [${randomUUID()}]` : c.note
  const timeout = c.timeoutMs ?? 5000
  try {
    await query(conn, insert, [note], timeout)
  } catch (e) {
    if ((e as { code?: string }).code !== '42P01') throw e // undefined_table: the first check here
    await query(conn, create, [], timeout)
    await query(conn, insert, [note], timeout)
  }
  if (!c.landsOn) return
  const on = c.landsOn
  const [r] = await query<{ standby: boolean; n: number }>(
    { ...on.conn, database: conn.database },
    found,
    [note],
    timeout,
  )
  if (r?.n === 1 && !r.standby) return
  const where = `${on.name} (${on.conn.host}:${on.conn.port})`
  throw new WrongServer(
    `a write through ${conn.host}:${conn.port} was committed, but not on ${where}${r?.standby ? ', which is still a standby' : ''}: ` +
      `another server behind that address takes writes. Find it and fence it (stop it) before clients write to both`,
  )
}

/** Retry until the server takes a write (it may still be promoting, or the route settling); a write on the wrong server ends the wait. */
export function awaitWritable(conn: Conn, c: WriteCheck & { withinMs: number; everyMs?: number }): Promise<true> {
  return waitFor(
    `a write through ${conn.host}:${conn.port}${c.landsOn ? ` to land on ${c.landsOn.name}` : ''}`,
    async () => (await proveWritable(conn, c), true as const),
    c.withinMs,
    c.everyMs ?? 100,
    // a wrong server, a refused login or a certificate that does not name the endpoint: no wait cures them
    (e) => e instanceof WrongServer || loginWillNotHeal(e),
  )
}
