/**
 * The human-error drill: a slice of user_progress is deleted at time T under a steady
 * workload; a PITR to just before T into a scratch cluster must bring every deleted row
 * back, hold every commit acknowledged before T, and nothing committed after T.
 */
import { rmSync } from 'node:fs'
import type { LocalSite } from '../../sites/local/site.ts'
import type { AuditLog } from '../../output/audit.ts'
import { acked } from '../../sites/local/workload.ts'
import { query } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'
import { restoreNew, prepare } from '../restore/restore.ts'
import type { RecoveryMeasure } from '../../../../core/drill.ts'
import { log } from '../../output/log.ts'

export interface PitrDrillResult {
  measure: RecoveryMeasure
  deletedRows: number
  restoredRows: number
  targetIso: string
  reachedIso: string | null
  restoreDir: string
  timings: Record<string, number>
  /** the lost rows copied back from the scratch restore into the primary, verified */
  repairedRows: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function pitrDrill(site: LocalSite, audit: AuditLog, writerId: string, opts: { beforeMs: number; afterMs: number; keep: boolean }): Promise<PitrDrillResult> {
  const primary = site.conn(site.state().primary)
  await sleep(opts.beforeMs) // steady workload before the mistake
  // the human error: one user in ten loses their progress
  const [k] = await query<{ k: number }>(primary, `SELECT user_id % 10 AS k FROM user_progress GROUP BY 1 ORDER BY count(*) DESC, random() LIMIT 1`)
  const slice = `user_id % 10 = ${k?.k ?? 3}`
  const [before] = await query<{ n: number; h: string }>(primary, `SELECT count(*)::int AS n, md5(string_agg(id::text || progress_data::text, ',' ORDER BY id)) AS h FROM user_progress WHERE ${slice}`)
  const [t] = await query<{ t: Date }>(primary, 'SELECT clock_timestamp() AS t')
  const target = t!.t.getTime()
  await audit.step('simulate human error', () => query(primary, `DELETE FROM user_progress WHERE ${slice}`), { slice, target: new Date(target).toISOString() })
  log.info(`human error at ${new Date(target).toISOString()}: deleted ${before!.n} user_progress rows (${slice})`)
  await sleep(opts.afterMs) // the workload goes on after the mistake
  // the mistake's WAL must be in the archive before we can recover around it
  const [w] = await query<{ seg: string }>(site.conn(site.state().primary, 'postgres'), 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg')
  await query(site.conn(site.state().primary, 'postgres'), 'SELECT pg_switch_wal()')
  await waitFor('the WAL holding the mistake to be archived', async () => {
    const [a] = await query<{ last: string | null }>(site.conn(site.state().primary, 'postgres'), 'SELECT last_archived_wal AS last FROM pg_stat_archiver')
    return !!a?.last && a.last.slice(0, 24) >= w!.seg
  }, 120_000, 100)

  const targetIso = new Date(target).toISOString()
  const opt = { target: { kind: 'time' as const, at: target, text: targetIso }, inPlace: false, dryRun: false }
  const t0 = Date.now()
  const { plan } = await prepare(site, opt)
  const report = await restoreNew(site, opt, plan, audit)
  const rto = (Date.now() - t0) / 1000
  const restored = { host: '127.0.0.1', port: report.port!, database: 'labdojo' }
  try {
    const [after] = await query<{ n: number; h: string }>(restored, `SELECT count(*)::int AS n, md5(string_agg(id::text || progress_data::text, ',' ORDER BY id)) AS h FROM user_progress WHERE ${slice}`)
    // every commit acknowledged before T is there; nothing committed after T is
    const ackedBefore = acked(site.l, writerId).filter((a) => a.at < target)
    const rows = await query<{ seq: string }>(restored, 'SELECT seq::text FROM drill_ledger WHERE writer = $1', [writerId])
    const present = new Set(rows.map((r) => Number(r.seq)))
    const lost = ackedBefore.filter((a) => !present.has(a.seq)).length
    const [late] = await query<{ n: number }>(restored, 'SELECT count(*)::int AS n FROM drill_ledger WHERE writer = $1 AND committed_at > $2', [writerId, new Date(target)])
    const reached = report.reached?.time ? Date.parse(report.reached.time) : NaN
    const missingRows = after!.h === before!.h ? 0 : Math.max(1, before!.n - after!.n)
    // repair, as after a real mistake: copy the lost rows back from the scratch restore
    if (!missingRows) await audit.step('repair: copy the lost rows back', () => copyRows(site, report.port!, slice))
    const [repaired] = await query<{ n: number; h: string }>(primary, `SELECT count(*)::int AS n, md5(string_agg(id::text || progress_data::text, ',' ORDER BY id)) AS h FROM user_progress WHERE ${slice}`)
    if (repaired!.h !== before!.h) throw new Error(`repair failed: the primary holds ${repaired!.n} of the ${before!.n} rows`)
    return {
      measure: {
        what: 'PITR after human error',
        rtoSeconds: rto,
        rpoSeconds: Number.isFinite(reached) ? Math.max(0, (target - reached) / 1000) : NaN,
        lostCommits: lost,
        missingRows,
        unexpectedRows: late!.n,
      },
      deletedRows: before!.n,
      restoredRows: after!.n,
      targetIso,
      reachedIso: report.reached?.time ?? null,
      restoreDir: report.dataDir!,
      timings: report.timings,
      repairedRows: repaired!.n,
    }
  } finally {
    if (!opts.keep) {
      await site.pg.stop(report.dataDir!, 'fast').catch(() => {})
      rmSync(report.dataDir!, { recursive: true, force: true })
    }
  }
}

/** COPY rows from the restored cluster straight into the primary (through the endpoint). */
async function copyRows(site: LocalSite, fromPort: number, where: string): Promise<void> {
  const psql = '/usr/lib/postgresql/15/bin/psql'
  await site.run('bash', ['-o', 'pipefail', '-c', `${psql} -X -q -h 127.0.0.1 -p "$1" -U postgres -d labdojo -c "$2" | ${psql} -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$3" -U postgres -d labdojo -c "$4"`,
    'repair', String(fromPort), `COPY (SELECT * FROM user_progress WHERE ${where}) TO STDOUT`, String(site.l.ports.endpoint), 'COPY user_progress FROM STDIN'], { asSiteUser: true, timeoutMs: 3_600_000 })
}
