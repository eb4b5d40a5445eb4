/** The catalog report: facts from every repo plus the pure tier verdicts. */
import {
  recoverableWindows,
  type RecoveryWindow,
  type RepoCatalog,
  type RestorePoint,
} from '../../../../core/recovery.ts'
import { tierVerdicts, type TierVerdict } from '../../../../core/tier-verdicts.ts'
import { formatBytes, formatDuration } from '../../../../core/duration.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { readRestorePoints, repoCatalog } from './catalog.ts'
import { restorePointsFile } from '../backup/restore-points.ts'
import { query } from '../../adapters/postgres.ts'
import { walSegmentDistance } from '../../../../core/wal.ts'
import { filesCatalog, type FilesCatalogRow } from './files-catalog.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface CatalogReport {
  stack: string
  generatedAt: string
  ok: boolean
  pitrWindowSeconds: number
  repos: (RepoCatalog & {
    verdicts: TierVerdict[]
    earliestTime: string | null
    latestTime: string | null
    windows: RecoveryWindow[]
  })[]
  restorePoints: RestorePoint[]
  /** the application tree (restic), per class and repo; its verdicts do not change `ok` (the database's) */
  files: FilesCatalogRow[]
}

export async function buildCatalog(site: LocalSitePort): Promise<CatalogReport> {
  const s = site.state()
  const pgPath = site.layout.node(s.primary).data
  const now = Date.now()
  const [repos, archiveCurrent, files] = await Promise.all([
    Promise.all(
      site
        .inventory()
        .pgbackrest.repos.map((r) => repoCatalog(site.run, site.br, r.index, pgPath, () => site.repoDown(r.index))),
    ),
    primaryArchiveCurrent(site),
    filesCatalog(site),
  ])
  return assembleCatalog(site.policy, 'local', repos, now, {
    archiveCurrent,
    restorePoints: readRestorePoints(restorePointsFile(site)),
    files,
  })
}

/** The one catalog report, whatever site its repos belong to: each repo judged against the policy's tiers. */
export function assembleCatalog(
  policy: DrPolicy,
  stack: string,
  repos: RepoCatalog[],
  now: number,
  o: { archiveCurrent: boolean; restorePoints: CatalogReport['restorePoints']; files: CatalogReport['files'] },
): CatalogReport {
  const withVerdicts = repos.map((c) => judgedRepo(policy, c, now, o.archiveCurrent))
  return {
    stack,
    generatedAt: new Date(now).toISOString(),
    ok: withVerdicts.every((r) => r.verdicts.every((v) => v.ok)),
    pitrWindowSeconds: policy.schedules.pitrWindow,
    repos: withVerdicts,
    restorePoints: o.restorePoints,
    files: o.files,
  }
}

/** One repo's catalog with its dates, recoverable windows and tier verdicts. */
export function judgedRepo(policy: DrPolicy, c: RepoCatalog, now: number, archiveCurrent: boolean) {
  return {
    ...c,
    earliestTime: c.earliest ? new Date(c.earliest.time).toISOString() : null,
    latestTime: c.latest ? new Date(c.latest.time).toISOString() : null,
    windows: recoverableWindows(c),
    verdicts: tierVerdicts(policy, c, now, archiveCurrent),
  }
}

/** The primary's archiver has shipped everything but the segment being written, and is not failing. */
async function primaryArchiveCurrent(site: LocalSitePort): Promise<boolean> {
  try {
    const [a] = await query<{ cur: string; last: string | null; failing: boolean }>(
      site.conn(site.state().primary, 'postgres'),
      `SELECT pg_walfile_name(pg_current_wal_lsn()) AS cur, last_archived_wal AS last, coalesce(last_failed_time > last_archived_time, false) AS failing FROM pg_stat_archiver`,
    )
    if (!a?.last || a.failing) return false
    const d = walSegmentDistance(a.cur, a.last.slice(0, 24))
    return d !== null && d <= 1
  } catch {
    return false
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

export function renderCatalog(r: CatalogReport): string {
  const out: string[] = [
    `recovery catalog (${r.generatedAt})  policy PITR window ${formatDuration(r.pitrWindowSeconds)}`,
    '',
  ]
  for (const c of r.repos) {
    out.push(
      `repo${c.repo}: ${c.reachable ? `${c.backups.length} backup(s), WAL ${c.archiveMin ?? '-'} .. ${c.archiveMax ?? '-'}` : `UNREACHABLE: ${c.error}`}`,
    )
    for (const b of c.backups)
      out.push(
        `  ${b.label.padEnd(36)} ${b.type.padEnd(4)} ${formatBytes(b.size).padStart(10)}  ${new Date(b.start).toISOString()} .. ${new Date(b.stop).toISOString()}  LSN ${b.lsnStart}..${b.lsnStop}${b.error ? '  ERROR' : ''}`,
      )
    const windows = recoverableWindows(c)
    for (const w of windows) {
      const span = (w.to.time - w.from.time) / 1000
      const short = windows.length === 1 && span < r.pitrWindowSeconds
      out.push(
        `  recoverable: ${iso(w.from.time)} (LSN ${w.from.lsn})  ..  ${iso(w.to.time)} (LSN ${w.to.lsn})  = ${formatDuration(span)}${short ? ` (policy window ${formatDuration(r.pitrWindowSeconds)} not yet covered)` : ''}`,
      )
      // what each kind of target reaches: latest/LSN to the end above; a time only before the last archived commit
      out.push(
        w.lastCommit && w.lastCommit.time > w.from.time
          ? `    time targets: ${iso(w.from.time)} .. before ${iso(w.lastCommit.time)} (the last archived commit: recovery stops at the first commit after the target)`
          : `    time targets: none yet (no commit archived after ${iso(w.from.time)}); latest, LSN and restore points reach the end above`,
      )
    }
    for (const g of c.gaps ?? [])
      out.push(
        `  WAL GAP: ${g.firstMissing} missing after ${g.lastPresent}${g.resumesAt ? `, resumes at ${g.resumesAt}` : ''}`,
      )
    for (const v of c.verdicts) out.push(`  tier ${v.tier}: ${v.ok ? 'OK' : `FLAGGED - ${v.findings.join('; ')}`}`)
    out.push('')
  }
  if (r.restorePoints.length)
    out.push(
      'named restore points:',
      ...r.restorePoints.map((p) => `  ${p.name}  LSN ${p.lsn}  ${new Date(p.time).toISOString()}`),
      '',
    )
  out.push('application tree (restic snapshots, newest per class and repo):')
  for (const f of r.files)
    out.push(
      `  ${f.class.padEnd(9)} tier ${f.tier} repo${f.repo}: ${f.error ? `UNREADABLE: ${f.error}` : f.newest ? `${f.snapshots} snapshot(s), newest ${f.newest.id} ${f.newest.time.slice(0, 19)}Z, age ${formatDuration(f.ageSeconds!)}` : 'never backed up'}  ${f.ok ? 'OK' : `FLAGGED - older than the tier RPO ${formatDuration(f.rpoSeconds)}`}`,
    )
  return out.join('\n') + '\n'
}
