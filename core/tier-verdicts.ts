/** The catalog judged against the tiers (pure): backup age, archive lag and WAL gaps, each finding with its numbers. */
import { formatDuration } from './duration.ts'
import type { DrPolicy, TierId } from './policy.ts'
import { cronPeriodSeconds, cronUnionGapSeconds } from './cron.ts'
import { fmtPoint, type CatalogGap, type RepoCatalog } from './recovery.ts'

export interface TierVerdict {
  tier: TierId
  ok: boolean
  findings: string[]
}

/** The longest gap between two scheduled backups of any type. */
export function scheduledBackupGapSeconds(p: DrPolicy): number {
  return Math.min(
    ...[p.schedules.full, p.schedules.incremental, p.schedules.differential].map((s) => cronPeriodSeconds(s.cron)),
    cronUnionGapSeconds([p.schedules.full, p.schedules.incremental, p.schedules.differential].map((s) => s.cron)),
  )
}

/**
 * Judge one repo against each tier: the latest backup older than the tier's frequency (or,
 * for continuous tiers, than the backup schedule's longest gap), or the latest recoverable
 * point older than the tier RPO, is flagged with the numbers.
 */
export function tierVerdicts(
  p: DrPolicy,
  c: RepoCatalog,
  now: number,
  archiveCurrent = false,
  graceSeconds = 3600,
): TierVerdict[] {
  return ([1, 2, 3] as TierId[]).map((tier) => {
    const t = p.tiers[tier]
    const findings: string[] = []
    const latestBackup = c.backups.filter((b) => !b.error).sort((a, b) => b.stop - a.stop)[0]
    const frequency =
      t.backupFrequency > 0 ? Math.max(t.backupFrequency, scheduledBackupGapSeconds(p)) : scheduledBackupGapSeconds(p)
    if (!c.reachable) findings.push(`repo${c.repo} is unreachable: ${c.error}`)
    else if (!latestBackup) findings.push(`repo${c.repo} holds no valid backup`)
    else {
      const age = (now - latestBackup.stop) / 1000
      if (age > frequency + graceSeconds)
        findings.push(
          `latest backup ${latestBackup.label} is ${formatDuration(age)} old; tier ${tier} expects one every ${formatDuration(frequency)}`,
        )
    }
    if (c.reachable && c.latest && !archiveCurrent) {
      // an idle database commits nothing: only a primary reporting unarchived WAL proves lag
      const lag = (now - c.latest.time) / 1000
      if (lag > t.rpo)
        findings.push(
          `latest recoverable point is ${formatDuration(lag)} old (archive lag); tier ${tier} RPO is ${formatDuration(t.rpo)}`,
        )
    } else if (c.reachable && !c.latest) findings.push(`no recoverable point in repo${c.repo}'s archive`)
    for (const g of c.gaps ?? []) findings.push(gapFinding(c.repo, g))
    return { tier, ok: findings.length === 0, findings }
  })
}

function gapFinding(repo: number, g: CatalogGap): string {
  const resumes = g.resumesAt ? `, the archive resumes at ${g.resumesAt}` : ', nothing after it'
  const last = g.before ? fmtPoint(g.before) : `the end of ${g.lastPresent}`
  return `WAL ${g.firstMissing} is missing from repo${repo}'s archive (after ${g.lastPresent}${resumes}): nothing after ${last} can be recovered from repo${repo} until a backup taken after the gap`
}
