/**
 * GDPR erasure that survives every restore. `erase` deletes a person from the live database —
 * every table whose foreign key points at users, the columns the schema names as personal data
 * without one, then the users row — in one transaction, and appends the erasure to a ledger
 * kept outside the backups: beside repo 1 (hash-chained, append-only) and sealed offsite, one
 * object per record. Every restore path re-applies the ledger before the restored database
 * serves; a restore that cannot read the ledger does not serve.
 */
import { PERSONAL_DATA_COLUMNS } from '../../../../core/platform.ts'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { Readable } from 'node:stream'
import { inputError } from '../../../../core/errors.ts'
import { formatDuration } from '../../../../core/duration.ts'
import { offsiteRetentionDays } from '../../../../core/policy.ts'
import { query, withClient, type Conn } from '../../adapters/postgres.ts'
import { appendChained, verifyAuditChain } from '../../output/audit.ts'
import { localOffsite } from '../exports/offsite.ts'
import type { Sealer } from '../exports/sealed.ts'
import {
  compareWithOffsite,
  readOffsiteLedger,
  syncLedgerOffsite,
  type OffsiteLedger,
} from '../evidence/offsite-ledger.ts'
import { firstLine } from '../../../../core/errors.ts'
import { log } from '../../output/log.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface ErasureRecord {
  kind: 'erasure'
  at: string
  user: number
  /** rows deleted per table */
  rows: Record<string, number>
}

export const ERASURES_PREFIX = 'erasures/'
export const erasureLedger = (site: LocalSitePort) => site.layout.erasureLedger

/**
 * The application's users table, schema-qualified: public on the local site, the application
 * user's own schema on a PGO cluster (AutoCreateUserSchema), whatever search_path this login has.
 */
async function usersTable(conn: Conn): Promise<{ schema: string; table: string }> {
  const rows = await query<{ schema: string }>(
    conn,
    `SELECT quote_ident(n.nspname) AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = 'users' AND c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
  )
  if (rows.length !== 1)
    throw new Error(
      rows.length
        ? `more than one users table (schemas ${rows.map((r) => r.schema).join(', ')}): cannot tell which holds the platform's people`
        : `no users table in database ${conn.database ?? 'postgres'}: not the platform's database`,
    )
  return { schema: rows[0]!.schema, table: `${rows[0]!.schema}.users` }
}

/** Where a person's rows live: `table` schema-qualified, `name` the table's own name (the ledger's key). */
export interface PersonalColumn {
  table: string
  name: string
  column: string
}

/** Every place a person's rows live: tables referencing users (foreign keys), the declared columns, users itself. */
export async function personalColumns(conn: Conn): Promise<PersonalColumn[]> {
  const users = await usersTable(conn)
  const fk = await query<PersonalColumn>(
    conn,
    `SELECT format('%I.%I', n.nspname, t.relname) AS table, t.relname AS name, a.attname AS column
       FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.confrelid = $1::regclass AND array_length(c.conkey, 1) = 1
      ORDER BY 1`,
    [users.table],
  )
  const declared = PERSONAL_DATA_COLUMNS.map((p) => ({ ...p, table: `${users.schema}.${p.table}`, name: p.table }))
  const own = { table: users.table, name: 'users', column: 'id' }
  return [...fk, ...declared.filter((p) => !fk.some((f) => f.table === p.table)), own]
}

/** Delete every row of these people, children first, inside the caller's transaction; rows deleted per table. */
async function deleteRows(
  c: { query(sql: string, params?: unknown[]): Promise<{ rowCount: number | null }> },
  columns: PersonalColumn[],
  users: number[],
): Promise<Record<string, number>> {
  const rows: Record<string, number> = {}
  for (const { table, name, column } of columns) {
    const r = await c.query(`DELETE FROM ${table} WHERE ${column} = ANY($1::bigint[])`, [users])
    rows[name] = (rows[name] ?? 0) + (r.rowCount ?? 0)
  }
  return rows
}

/** Delete every row of these people, children first, in one transaction; rows deleted per table. */
async function purge(conn: Conn, users: number[]): Promise<Record<string, number>> {
  const columns = await personalColumns(conn)
  return withClient(conn, async (c) => {
    await c.query('BEGIN')
    try {
      const rows = await deleteRows(c, columns, users)
      await c.query('COMMIT')
      return rows
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      throw e
    }
  })
}

export function parseUserId(raw: string | undefined): number {
  const n = raw && /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!raw || !Number.isSafeInteger(n) || n < 1)
    throw inputError('--user', raw, 'must be a user id (a positive integer)', 'e.g. --user 42')
  return n
}

const ledgerLines = (site: LocalSitePort) =>
  existsSync(erasureLedger(site)) ? readFileSync(erasureLedger(site), 'utf8').split('\n').filter(Boolean) : []

/**
 * The erasure ledger's records, trusted only when its hash chain holds and every record copied
 * offsite (written once, object-locked in the cloud) equals the local one — so an edited last
 * record, which no later link covers, is caught too. A local ledger that lost records (the file
 * gone with repo 1's disk, emptied, cut short) is put back from the sealed offsite copy and said
 * so. With the offsite store unreachable (a disaster), the local ledger alone is used, its chain
 * intact, and said so — unless the file itself is gone: then nobody can say who was erased, and
 * this throws (a restore must not serve). Throws too when the ledger cannot be trusted.
 */
export async function readErasures(site: LocalSitePort): Promise<ErasureRecord[]> {
  const file = erasureLedger(site)
  const present = existsSync(file)
  let lines = ledgerLines(site)
  const distrust = (why: string) => new Error(`the erasure ledger ${file} cannot be trusted: ${why}`)
  const chain = verifyAuditChain(file)
  if (!chain.ok) throw distrust(chain.problem ?? 'its hash chain is broken')
  const { store, sealer } = localOffsite(site)
  const layoutOffsite = sealedOffsite(sealer)
  try {
    let offsite: string[]
    try {
      const down = await site.offsite.down()
      if (down) throw new Error(down)
      offsite = await readOffsiteLedger(store, layoutOffsite)
    } catch (e) {
      const why = firstLine(e)
      if (/does not match|lacks record/.test(why)) throw distrust(`its sealed offsite copy: ${why}`)
      if (!present)
        throw new Error(
          `the erasure ledger ${file} is missing and its sealed offsite copy cannot be read (${why}): nobody can say who was erased, so nothing restored may serve. Bring the offsite store back (local.ts up), then re-run`,
          { cause: e },
        )
      log.warn(`erasure ledger: the offsite copy could not be read (${why}); using the local ledger, its chain intact`)
      return lines.map((l) => JSON.parse(l) as ErasureRecord)
    }
    if (offsite.length > lines.length && lines.every((l, i) => l === offsite[i])) {
      writeLedger(file, offsite)
      log.warn(
        `erasure ledger: ${file} ${present ? `held ${lines.length} of the ${offsite.length} record(s)` : 'was missing'}; put back from its sealed offsite copy (${offsite.length - lines.length} record(s) restored)`,
      )
      lines = offsite
    }
    const cmp = await compareWithOffsite(store, lines, layoutOffsite)
    if (cmp.departs) throw distrust(`${cmp.departs} (sealed)`)
  } finally {
    store.close()
  }
  if (!present && !lines.length) writeLedger(file, [])
  return lines.map((l) => JSON.parse(l) as ErasureRecord)
}

/** The ledger written whole (0600, its directory 0700): only when putting it back from offsite. */
function writeLedger(file: string, lines: string[]): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.restoring`
  writeFileSync(tmp, lines.map((l) => l + '\n').join(''), { mode: 0o600 })
  renameSync(tmp, file)
}

/** The ledger an erasure is recorded in before its deletion commits. */
export interface ErasureLedgerPort {
  /** the person's erasure already on record, if any */
  already: ErasureRecord | undefined
  /** record it; throws when it cannot (and then nothing is deleted) */
  record(r: ErasureRecord): Promise<void>
}

/**
 * Erase a person: the rows are deleted in a transaction that commits only once the erasure is in
 * the ledger, so a ledger that cannot be written leaves the person untouched (and the error names
 * it), and a recorded erasure whose commit did not happen is finished by running it again.
 */
export async function eraseIn(
  conn: Conn,
  user: number,
  ledger: ErasureLedgerPort,
): Promise<{ record: ErasureRecord; finished: boolean }> {
  const columns = await personalColumns(conn)
  return withClient(conn, async (c) => {
    await c.query('BEGIN')
    try {
      const rows = await deleteRows(c, columns, [user])
      const live = Object.values(rows).reduce((a, b) => a + b, 0)
      if (!live && !ledger.already)
        throw inputError('--user', user, 'no such user, and no erasure of it on record', 'check the id')
      const record: ErasureRecord = ledger.already ?? { kind: 'erasure', at: new Date().toISOString(), user, rows }
      if (!ledger.already) await ledger.record(record)
      await c.query('COMMIT')
      return {
        record: { ...record, rows: ledger.already ? rows : record.rows },
        finished: !!ledger.already && live > 0,
      }
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      throw e
    }
  })
}

/** The local site's erasure: its ledger beside repo 1, then sealed offsite. */
export async function erase(
  site: LocalSitePort,
  user: number,
): Promise<ErasureRecord & { offsite: string; finished: boolean }> {
  const already = (await readErasures(site)).find((r) => r.user === user)
  const file = erasureLedger(site)
  const outcome = await eraseIn(site.endpointConn(), user, {
    already,
    record: async (record) => {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      try {
        appendChained(file, record, 0o600)
      } catch (e) {
        throw new Error(
          `the erasure of user ${user} could not be recorded in ${file} (${firstLine(e)}): nothing was deleted. Fix the ledger file, then re-run`,
          { cause: e },
        )
      }
    },
  })
  return { ...outcome.record, finished: outcome.finished, offsite: await copyOffsite(site) }
}

/** Seal every record the bucket lacks, one object each (written once: object-locked in the cloud). */
async function copyOffsite(site: LocalSitePort): Promise<string> {
  const down = await site.offsite.down()
  if (down) return `not copied offsite yet (${down}): the next erasure takes it along`
  const { store, sealer } = localOffsite(site)
  try {
    const put = await syncLedgerOffsite(store, ledgerLines(site), sealedOffsite(sealer))
    return `sealed offsite (${put} new record(s))`
  } catch (e) {
    return `not copied offsite yet (${firstLine(e)}): the next erasure takes it along`
  } finally {
    store.close()
  }
}

/** The erasure ledger's offsite layout: each record sealed with the offsite cipher pass. */
const sealedOffsite = (sealer: Sealer): OffsiteLedger => ({
  prefix: ERASURES_PREFIX,
  ext: '.sealed',
  encode: async (line) => {
    const chunks: Buffer[] = []
    for await (const c of Readable.from([Buffer.from(line)]).pipe(sealer.seal(sealer.newSalt())))
      chunks.push(c as Buffer)
    return Buffer.concat(chunks)
  },
  decode: async (body) => {
    const chunks: Buffer[] = []
    for await (const c of Readable.from([body]).pipe(sealer.open())) chunks.push(c as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  },
})

/** Purge every person on record from a restored database before it serves. */
export async function purgeErased(records: ErasureRecord[], conn: Conn): Promise<{ people: number; rows: number }> {
  const users = [...new Set(records.map((r) => r.user))]
  if (!users.length) return { people: 0, rows: 0 }
  const rows = await purge(conn, users)
  return { people: users.length, rows: Object.values(rows).reduce((a, b) => a + b, 0) }
}

/**
 * Re-apply the ledger to a restored database before it serves: every erased person's rows go
 * again. Throws (the caller must not serve) when the ledger cannot be read.
 */
export async function reapplyErasures(site: LocalSitePort, conn: Conn): Promise<{ people: number; rows: number }> {
  return purgeErased(await readErasures(site), conn)
}

export interface ErasureReportRow {
  user: number
  erasedAt: string
  liveRows: number
  /** backups taken before the erasure hold the person until they expire */
  backupsHoldUntil: string
}

/** For each erased person: rows still live (must be 0) and until when backups still hold them. */
export async function erasureReport(site: LocalSitePort): Promise<ErasureReportRow[]> {
  return erasureReportOn(site.endpointConn(), await readErasures(site), site.policy)
}

/** The same over any database and ledger (a cloud stack's primary and its cloud ledger). */
export async function erasureReportOn(
  conn: Conn,
  records: ErasureRecord[],
  policy: LocalSitePort['policy'],
): Promise<ErasureReportRow[]> {
  const columns = await personalColumns(conn)
  const keep = offsiteRetentionDays(policy) * 86400_000
  const out: ErasureReportRow[] = []
  for (const r of records) {
    let live = 0
    for (const { table, column } of columns)
      live += (
        await query<{ n: number }>(conn, `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [r.user])
      )[0]!.n
    out.push({
      user: r.user,
      erasedAt: r.at,
      liveRows: live,
      backupsHoldUntil: new Date(Date.parse(r.at) + keep).toISOString(),
    })
  }
  return out
}

export const renderErasureReport = (rows: ErasureReportRow[], p: LocalSitePort['policy']) =>
  rows.length
    ? rows
        .map(
          (r) =>
            `${r.liveRows ? 'FAIL' : 'ok  '} user ${r.user}: erased ${r.erasedAt}; ${r.liveRows} live row(s); backups from before hold them until ${r.backupsHoldUntil.slice(0, 10)} (offsite retention ${formatDuration(offsiteRetentionDays(p) * 86400)}), and every restore purges them again`,
        )
        .join('\n') + '\n'
    : 'no erasure on record\n'
