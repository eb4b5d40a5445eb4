/** A restore held at X against its reference at X: the tables that differ, their first rows, in words. */
import { lsnToBigInt } from '../../../../core/wal.ts'
import type { Conn } from '../../adapters/postgres.ts'
import { differingTables, firstDifferences, rowHashes, type Fingerprint, type TableDifference } from './fingerprint.ts'

/** Each table whose fingerprints differ, with its first differing rows read from both sides. */
export async function tableDifferences(
  ref: Conn,
  restored: Conn,
  a: Fingerprint,
  b: Fingerprint,
): Promise<TableDifference[]> {
  const out: TableDifference[] = []
  for (const table of differingTables(a, b)) {
    const ra = a.tables.find((t) => t.table === table)
    const rb = b.tables.find((t) => t.table === table)
    const rows = ra && rb ? firstDifferences(await rowHashes(ref, table), await rowHashes(restored, table)) : []
    out.push({ table, reference: ra ? { rows: ra.rows } : null, restored: rb ? { rows: rb.rows } : null, rows })
  }
  return out
}

/**
 * What is wrong, as the end of a sentence, when the restore stopped elsewhere than X or differs
 * from `reference` (e.g. "the warm standby"); undefined when it is equal at X.
 */
export function inequality(
  reference: string,
  reached: string,
  lsn: string,
  diffs: TableDifference[],
): string | undefined {
  const elsewhere = lsnToBigInt(reached) !== lsnToBigInt(lsn)
  if (!diffs.length && !elsewhere) return undefined
  const d = diffs[0]
  const where = elsewhere
    ? `stopped at ${reached}, not at ${reference}'s ${lsn}`
    : `restored to ${lsn} differs from ${reference} at the same LSN`
  const rows = d
    ? `${diffs.length} table(s) differ, first ${d.table} (reference ${d.reference?.rows ?? 'absent'} rows, restore ${d.restored?.rows ?? 'absent'} rows${d.rows.length ? `; ${d.rows.join('; ')}` : ''})`
    : 'every table is equal nonetheless'
  return `${where}: ${rows}`
}
