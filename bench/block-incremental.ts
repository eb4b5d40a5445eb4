/**
 * Block incremental on the local site (issue 14, defect 15): pgBackRest 2.45 has it as a beta
 * only, so the policy keeps it off (policy.schedules.localBlockIncremental) unless this shows it
 * pays. In one run, the same generated data set twice — off, then beta (repo1-bundle + repo1-block,
 * beta=y) — a full backup, then ~1% of the rows of the two big tables updated and an
 * incremental, twice: the 1% spread over every page (id % 100), then clustered (the newest 1%):
 *   each incremental's stored size against the full's (target: at most 10%)
 * Default --scale 0.25 (about 330 MB); --scale 1 is the 1.3 GB.
 */
import { parseArgs } from 'node:util'
import { benchSite, table, timed } from './lib.ts'
import { physicalBackup } from '../runbooks/lib/ops/backup/backup.ts'
import { query } from '../runbooks/lib/adapters/postgres.ts'
import { formatBytes } from '../core/duration.ts'

const { values } = parseArgs({ options: { scale: { type: 'string', default: '0.25' } } })
const rows: (string | number)[][] = [
  ['mode', 'change', 'full stored', 'incr stored', 'incr / full', 'full s', 'incr s', 'target'],
]
for (const mode of ['off', 'beta'] as const) {
  const { site } = await benchSite(`block-${mode}`, mode === 'off' ? 27600 : 27700, false, (p) => ({
    ...p,
    schedules: { ...p.schedules, localBlockIncremental: mode },
  }))
  try {
    process.stderr.write(`block incremental ${mode}: site in ${site.layout.stateDir} (scale ${values.scale})\n`)
    await site.up({ scale: Number(values.scale) })
    const conn = site.conn(site.state().primary)
    const [fullS, [full]] = await timed(() => physicalBackup(site, 'full', [1]))
    const fullBytes = full!.storedBytes ?? full!.copiedBytes
    // ~1% of the rows of the two big tables: spread over every page, then clustered (the newest 1%)
    const patterns = {
      'scattered 1%': (t: string, col: string) =>
        `UPDATE ${t} SET ${col} = ${col} || '{"bench": 1}' WHERE id % 100 = 7`,
      'clustered 1%': (t: string, col: string) =>
        `UPDATE ${t} SET ${col} = ${col} || '{"bench": 2}' WHERE id > (SELECT max(id) - max(id) / 100 FROM ${t})`,
    }
    for (const [name, sql] of Object.entries(patterns)) {
      await query(conn, sql('user_progress', 'progress_data'), [], 0)
      await query(conn, sql('analytics_events', 'properties'), [], 0)
      await query(conn, 'CHECKPOINT')
      const [incrS, [incr]] = await timed(() => physicalBackup(site, 'incr', [1]))
      const incrBytes = incr!.storedBytes ?? incr!.copiedBytes
      rows.push([
        mode,
        name,
        formatBytes(fullBytes),
        formatBytes(incrBytes),
        `${((incrBytes / fullBytes) * 100).toFixed(1)}%`,
        fullS,
        incrS,
        '<= 10%',
      ])
    }
  } finally {
    await site.down()
    site.purge()
  }
}
process.stdout.write(`\nblock incremental, local pgBackRest 2.45 (scale ${values.scale})\n\n${table(rows)}\n`)
