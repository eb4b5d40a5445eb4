/**
 * A logical fingerprint of a database: per user table, the row count and a 128-bit multiset hash
 * of every row's full text (every column), summed so row order does not matter. Tables are read
 * in parallel. Two clusters at the same LSN have equal fingerprints, table by table.
 */
import { createHash } from 'node:crypto'
import { query, type Conn } from '../../adapters/postgres.ts'

export interface TableFingerprint {
  table: string
  rows: number
  /** the two 64-bit hash sums, as PostgreSQL's numeric text */
  sums: [string, string]
}

export interface Fingerprint {
  tables: TableFingerprint[]
  /** one digest of every table's fingerprint, for the ledger */
  digest: string
}

/** Permanent user tables (unlogged ones are empty after a restore, and unreadable on a standby). */
const TABLES_SQL = `SELECT format('%I.%I', n.nspname, c.relname) AS t
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence = 'p'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  ORDER BY 1`

const tableSql = (table: string) => `SELECT count(*)::bigint::text AS n,
  coalesce(sum(hashtextextended(r::text, 0)::numeric), 0)::text AS a,
  coalesce(sum(hashtextextended(r::text, 1)::numeric), 0)::text AS b
  FROM ${table} r`

export async function userTables(c: Conn): Promise<string[]> {
  return (await query<{ t: string }>(c, TABLES_SQL)).map((r) => r.t)
}

export async function fingerprint(c: Conn, tables?: string[], parallel = 2): Promise<Fingerprint> {
  const names = tables ?? (await userTables(c))
  const out: TableFingerprint[] = new Array(names.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < names.length; i = next++) {
      const [r] = await query<{ n: string; a: string; b: string }>(c, tableSql(names[i]!), [], 0)
      out[i] = { table: names[i]!, rows: Number(r!.n), sums: [r!.a, r!.b] }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, names.length) }, worker))
  return { tables: out, digest: digestOf(out) }
}

export function digestOf(tables: TableFingerprint[]): string {
  const h = createHash('sha256')
  for (const t of tables) h.update(`${t.table}:${t.rows}:${t.sums[0]}:${t.sums[1]}\n`)
  return h.digest('hex')
}

export interface TableDifference {
  table: string
  reference: { rows: number } | null
  restored: { rows: number } | null
  /** the first rows that differ, by primary key (or by row text where there is none) */
  rows: string[]
}

/** The tables whose fingerprints differ (or exist on one side only). */
export function differingTables(reference: Fingerprint, restored: Fingerprint): string[] {
  const byName = new Map(restored.tables.map((t) => [t.table, t]))
  const names = new Set([...reference.tables.map((t) => t.table), ...byName.keys()])
  return [...names].filter((n) => {
    const a = reference.tables.find((t) => t.table === n)
    const b = byName.get(n)
    return !a || !b || a.rows !== b.rows || a.sums[0] !== b.sums[0] || a.sums[1] !== b.sums[1]
  })
}

/** Row keys (primary key text, or the row text) with a hash of each row, to name the first differing rows. */
export async function rowHashes(c: Conn, table: string): Promise<Map<string, string>> {
  const [pk] = await query<{ cols: string | null }>(
    c,
    `SELECT string_agg(format('r.%I', a.attname), ', ' ORDER BY array_position(i.indkey, a.attnum)) AS cols
     FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary`,
    [table],
  )
  const key = pk?.cols ? `(${pk.cols})::text` : 'r::text'
  const rows = await query<{ k: string; h: string }>(
    c,
    `SELECT ${key} AS k, hashtextextended(r::text, 0)::text AS h FROM ${table} r`,
    [],
    0,
  )
  return new Map(rows.map((r) => [r.k, r.h]))
}

/** The first `limit` keys whose rows differ between two row-hash maps, each with what is wrong. */
export function firstDifferences(reference: Map<string, string>, restored: Map<string, string>, limit = 5): string[] {
  const out: string[] = []
  for (const [k, h] of reference) {
    if (out.length >= limit) return out
    const r = restored.get(k)
    if (r === undefined) out.push(`${k}: missing from the restore`)
    else if (r !== h) out.push(`${k}: different values`)
  }
  for (const k of restored.keys()) {
    if (out.length >= limit) break
    if (!reference.has(k)) out.push(`${k}: only in the restore`)
  }
  return out
}
