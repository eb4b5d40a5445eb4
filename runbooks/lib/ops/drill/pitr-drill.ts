/**
 * The human-error drill: a slice of user_progress is deleted at time T under a steady
 * workload; a PITR to just before T into a scratch cluster must bring every deleted row
 * back, hold every commit acknowledged before T, and nothing committed after T. Then the
 * lost rows are copied back into the primary, as after a real mistake.
 */
import { rmSync } from 'node:fs'
import type { RecoveryMeasure } from '../../../../core/drill.ts'
import { pgBin, query, type Conn } from '../../adapters/postgres.ts'
import { sleep, waitFor } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { restoreNew } from '../restore/new-cluster.ts'
import { prepare, type RestoreReport } from '../restore/plan.ts'
import { recordOutcome } from '../evidence/ledger.ts'
import { DATABASE, type LocalSitePort } from '../../sites/local-port.ts'

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

interface Checksum {
  n: number
  h: string
}

/** Row count and an ordered digest of a slice of user_progress. */
async function sliceChecksum(conn: Conn, slice: string): Promise<Checksum> {
  const sql = `SELECT count(*)::int AS n, md5(string_agg(id::text || progress_data::text, ',' ORDER BY id)) AS h FROM user_progress WHERE ${slice}`
  return (await query<Checksum>(conn, sql))[0]!
}

export async function pitrDrill(
  site: LocalSitePort,
  audit: AuditLog,
  writerId: string,
  opts: { beforeMs: number; afterMs: number; keep: boolean },
): Promise<PitrDrillResult> {
  await sleep(opts.beforeMs) // steady workload before the mistake
  const mistake = await simulateHumanError(site, audit)
  await sleep(opts.afterMs) // the workload goes on after the mistake
  await archiveTheMistake(site)
  const t0 = Date.now()
  const report = await restoreBefore(site, mistake.target, audit)
  const rto = (Date.now() - t0) / 1000
  await recordOutcome(site, 'restore', { report: { ...report } })
  try {
    const restored = { host: '127.0.0.1', port: report.port!, database: DATABASE, passfile: site.layout.secrets.pgpass }
    const check = await checkRestored(site, restored, writerId, mistake)
    if (check.missingRows === 0)
      await audit.step('repair: copy the lost rows back', () => copyRows(site, report.port!, mistake.slice))
    const repaired = await sliceChecksum(site.conn(site.state().primary), mistake.slice)
    if (repaired.h !== mistake.before.h)
      throw new Error(`repair failed: the primary holds ${repaired.n} of the ${mistake.before.n} rows`)
    const reached = report.reached?.time ? Date.parse(report.reached.time) : NaN
    return {
      measure: {
        what: 'PITR after human error',
        against: { kind: 'tiers' },
        rtoSeconds: rto,
        rpoSeconds: Number.isFinite(reached) ? Math.max(0, (mistake.target - reached) / 1000) : NaN,
        lostCommits: check.lostCommits,
        missingRows: check.missingRows,
        unexpectedRows: check.lateCommits,
      },
      deletedRows: mistake.before.n,
      restoredRows: check.restoredRows,
      targetIso: new Date(mistake.target).toISOString(),
      reachedIso: report.reached?.time ?? null,
      restoreDir: report.dataDir!,
      timings: report.timings,
      repairedRows: repaired.n,
    }
  } finally {
    if (!opts.keep) await dropScratch(site, report.dataDir!)
  }
}

interface Mistake {
  slice: string
  before: Checksum
  /** the moment just before the DELETE (ms) */
  target: number
}

/** The human error: one user in ten loses their progress. */
async function simulateHumanError(site: LocalSitePort, audit: AuditLog): Promise<Mistake> {
  const primary = site.conn(site.state().primary)
  const [k] = await query<{ k: number }>(
    primary,
    `SELECT user_id % 10 AS k FROM user_progress GROUP BY 1 ORDER BY count(*) DESC, random() LIMIT 1`,
  )
  const slice = `user_id % 10 = ${k?.k ?? 3}`
  const before = await sliceChecksum(primary, slice)
  const [t] = await query<{ t: Date }>(primary, 'SELECT clock_timestamp() AS t')
  const target = t!.t.getTime()
  const targetIso = new Date(target).toISOString()
  await audit.step('simulate human error', () => query(primary, `DELETE FROM user_progress WHERE ${slice}`), {
    slice,
    target: targetIso,
  })
  log.info(`human error at ${targetIso}: deleted ${before.n} user_progress rows (${slice})`)
  return { slice, before, target }
}

/** The mistake's WAL must be in the archive before we can recover around it. */
async function archiveTheMistake(site: LocalSitePort): Promise<void> {
  const conn = site.conn(site.state().primary, 'postgres')
  const [w] = await query<{ seg: string }>(conn, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg')
  await query(conn, 'SELECT pg_switch_wal()')
  const archived = async () => {
    const [a] = await query<{ last: string | null }>(conn, 'SELECT last_archived_wal AS last FROM pg_stat_archiver')
    return !!a?.last && a.last.slice(0, 24) >= w!.seg
  }
  await waitFor('the WAL holding the mistake to be archived', archived, 120_000, 100)
}

/** PITR to the moment before the mistake, into a new scratch cluster. */
async function restoreBefore(site: LocalSitePort, target: number, audit: AuditLog): Promise<RestoreReport> {
  const targetIso = new Date(target).toISOString()
  const options = { target: { kind: 'time' as const, at: target, text: targetIso }, inPlace: false, dryRun: false }
  const { plan } = await prepare(site, options)
  return restoreNew(site, options, plan, audit)
}

/** Every commit acknowledged before T is there; nothing committed after T is; the deleted rows are back. */
async function checkRestored(site: LocalSitePort, restored: Conn, writerId: string, mistake: Mistake) {
  const after = await sliceChecksum(restored, mistake.slice)
  const ackedBefore = site.workload.acked(writerId).filter((a) => a.at < mistake.target)
  const rows = await query<{ seq: string }>(restored, 'SELECT seq::text FROM drill_ledger WHERE writer = $1', [
    writerId,
  ])
  const present = new Set(rows.map((r) => Number(r.seq)))
  const lateSql = 'SELECT count(*)::int AS n FROM drill_ledger WHERE writer = $1 AND committed_at > $2'
  const [late] = await query<{ n: number }>(restored, lateSql, [writerId, new Date(mistake.target)])
  return {
    restoredRows: after.n,
    missingRows: after.h === mistake.before.h ? 0 : Math.max(1, mistake.before.n - after.n),
    lostCommits: ackedBefore.filter((a) => !present.has(a.seq)).length,
    lateCommits: late!.n,
  }
}

/** COPY rows from the restored cluster straight into the primary (through the endpoint). */
async function copyRows(site: LocalSitePort, fromPort: number, where: string): Promise<void> {
  const psql = pgBin('psql')
  const pipe = `${psql} -X -q -h 127.0.0.1 -p "$1" -U postgres -d "$5" -c "$2" | ${psql} -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$3" -U postgres -d "$5" -c "$4"`
  const copyOut = `COPY (SELECT * FROM user_progress WHERE ${where}) TO STDOUT`
  const args = [
    '-o',
    'pipefail',
    '-c',
    pipe,
    'repair',
    String(fromPort),
    copyOut,
    String(site.layout.ports.endpoint),
    'COPY user_progress FROM STDIN',
    DATABASE,
  ]
  await site.run('bash', args, { asSiteUser: true, timeoutMs: 3_600_000 })
}

async function dropScratch(site: LocalSitePort, dir: string): Promise<void> {
  await site.pg.stop(dir, 'fast').catch(() => {})
  rmSync(dir, { recursive: true, force: true })
}
