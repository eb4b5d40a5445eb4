/**
 * GDPR erasure that survives every restore. `erase` deletes a person from the live database —
 * every table whose foreign key points at users, the columns the schema names as personal data
 * without one, then the users row — in one transaction, and appends the erasure to a ledger
 * kept outside the backups: beside repo 1 (hash-chained, append-only) and sealed offsite, one
 * object per record. Every restore path re-applies the ledger before the restored database
 * serves; a restore that cannot read the ledger does not serve.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { inputError } from '../../../../core/errors.ts'
import { formatDuration } from '../../../../core/duration.ts'
import { offsiteRetentionDays } from '../../../../core/policy.ts'
import { query, withClient, type Conn } from '../../adapters/postgres.ts'
import { appendChained, verifyAuditChain } from '../../output/audit.ts'
import { PERSONAL_DATA_COLUMNS } from '../../sites/local/dataset.ts'
import type { LocalSite } from '../../sites/local/site.ts'
import { localOffsite } from '../exports/offsite.ts'
import type { Sealer } from '../exports/sealed.ts'
import { compareWithOffsite, syncLedgerOffsite, type OffsiteLedger } from '../evidence/offsite-ledger.ts'
import { log } from '../../output/log.ts'

export interface ErasureRecord {
  kind: 'erasure'
  at: string
  user: number
  /** rows deleted per table */
  rows: Record<string, number>
}

export const ERASURES_PREFIX = 'erasures/'
export const erasureLedger = (site: LocalSite) =>
  join(site.layout.pgbackrest.repo1, 'labdojo-erasures', 'erasures.jsonl')

/** Every place a person's rows live: tables referencing users (foreign keys), the declared columns, users itself. */
export async function personalColumns(conn: Conn): Promise<{ table: string; column: string }[]> {
  const fk = await query<{ table: string; column: string }>(
    conn,
    `SELECT c.conrelid::regclass::text AS table, a.attname AS column
       FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass AND array_length(c.conkey, 1) = 1
      ORDER BY 1`,
  )
  const all = [...fk, ...PERSONAL_DATA_COLUMNS.filter((p) => !fk.some((f) => f.table === p.table))]
  return [...all, { table: 'users', column: 'id' }]
}

/** Delete every row of these people, children first, in one transaction; rows deleted per table. */
async function purge(conn: Conn, users: number[]): Promise<Record<string, number>> {
  const columns = await personalColumns(conn)
  return withClient(conn, async (c) => {
    const rows: Record<string, number> = {}
    await c.query('BEGIN')
    try {
      for (const { table, column } of columns) {
        const r = await c.query(`DELETE FROM ${table} WHERE ${column} = ANY($1::bigint[])`, [users])
        rows[table] = (rows[table] ?? 0) + (r.rowCount ?? 0)
      }
      await c.query('COMMIT')
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {})
      throw e
    }
    return rows
  })
}

export function parseUserId(raw: string | undefined): number {
  const n = Number(raw)
  if (!raw || !Number.isSafeInteger(n) || n < 1)
    throw inputError('--user', raw, 'must be a user id (a positive integer)', 'e.g. --user 42')
  return n
}

const ledgerLines = (site: LocalSite) =>
  existsSync(erasureLedger(site)) ? readFileSync(erasureLedger(site), 'utf8').split('\n').filter(Boolean) : []

/**
 * The erasure ledger's records, trusted only when its hash chain holds and every record copied
 * offsite (written once, object-locked in the cloud) equals the local one — so an edited last
 * record, which no later link covers, is caught too. With the offsite store unreachable (a
 * disaster), the local chain alone is used and said so. Throws when it cannot be trusted.
 */
export async function readErasures(site: LocalSite): Promise<ErasureRecord[]> {
  const file = erasureLedger(site)
  const lines = ledgerLines(site)
  if (!lines.length) return []
  const distrust = (why: string) => new Error(`the erasure ledger ${file} cannot be trusted: ${why}`)
  const chain = verifyAuditChain(file)
  if (!chain.ok) throw distrust(chain.problem ?? 'its hash chain is broken')
  const { store, sealer } = localOffsite(site.layout)
  let cmp: { departs?: string } = {}
  try {
    cmp = await compareWithOffsite(store, lines, sealedOffsite(sealer))
  } catch (e) {
    log.warn(
      `erasure ledger: the offsite copy could not be read (${(e as Error).message.split('\n')[0]}); using the local ledger, its chain intact`,
    )
  } finally {
    store.close()
  }
  if (cmp.departs) throw distrust(`${cmp.departs} (sealed)`)
  return lines.map((l) => JSON.parse(l) as ErasureRecord)
}

export async function erase(site: LocalSite, user: number): Promise<ErasureRecord & { offsite: string }> {
  const conn = site.endpointConn()
  const [u] = await query<{ n: number }>(conn, 'SELECT count(*)::int AS n FROM users WHERE id = $1', [user])
  const already = (await readErasures(site)).some((r) => r.user === user)
  if (!u!.n && !already)
    throw inputError('--user', user, 'no such user, and no erasure of it on record', 'check the id')
  const record: ErasureRecord = { kind: 'erasure', at: new Date().toISOString(), user, rows: await purge(conn, [user]) }
  if (!already) {
    const file = erasureLedger(site)
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    appendChained(file, record, 0o600)
  }
  return { ...record, offsite: await copyOffsite(site) }
}

/** Seal every record the bucket lacks, one object each (written once: object-locked in the cloud). */
async function copyOffsite(site: LocalSite): Promise<string> {
  const { store, sealer } = localOffsite(site.layout)
  try {
    const put = await syncLedgerOffsite(store, ledgerLines(site), sealedOffsite(sealer))
    return `sealed offsite (${put} new record(s))`
  } catch (e) {
    return `not copied offsite yet (${(e as Error).message.split('\n')[0]}): the next erasure takes it along`
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
})

/**
 * Re-apply the ledger to a restored database before it serves: every erased person's rows go
 * again. Throws (the caller must not serve) when the ledger cannot be read.
 */
export async function reapplyErasures(site: LocalSite, conn: Conn): Promise<{ people: number; rows: number }> {
  const users = [...new Set((await readErasures(site)).map((r) => r.user))]
  if (!users.length) return { people: 0, rows: 0 }
  const rows = await purge(conn, users)
  return { people: users.length, rows: Object.values(rows).reduce((a, b) => a + b, 0) }
}

export interface ErasureReportRow {
  user: number
  erasedAt: string
  liveRows: number
  /** backups taken before the erasure hold the person until they expire */
  backupsHoldUntil: string
}

/** For each erased person: rows still live (must be 0) and until when backups still hold them. */
export async function erasureReport(site: LocalSite): Promise<ErasureReportRow[]> {
  const conn = site.endpointConn()
  const columns = await personalColumns(conn)
  const keep = offsiteRetentionDays(site.policy) * 86400_000
  const out: ErasureReportRow[] = []
  for (const r of await readErasures(site)) {
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

export const renderErasureReport = (rows: ErasureReportRow[], p: LocalSite['policy']) =>
  rows.length
    ? rows
        .map(
          (r) =>
            `${r.liveRows ? 'FAIL' : 'ok  '} user ${r.user}: erased ${r.erasedAt}; ${r.liveRows} live row(s); backups from before hold them until ${r.backupsHoldUntil.slice(0, 10)} (offsite retention ${formatDuration(offsiteRetentionDays(p) * 86400)}), and every restore purges them again`,
        )
        .join('\n') + '\n'
    : 'no erasure on record\n'
