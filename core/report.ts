/**
 * The monthly report's numbers, pure: the guide's four dashboard metrics (backup success rate,
 * recovery time achieved, storage growth, data integrity score) from what was recorded — the
 * audit log's backup outcomes, the evidence ledger's proofs and drills, the catalog's backups —
 * never from what the settings say. A metric without data says so instead of a number.
 */
import type { CatalogBackup } from './recovery.ts'

export interface BackupOutcome {
  at: number
  type: string
  ok: boolean
}

export interface ProofEvidence {
  at: number
  backup: string
  repo: number
  verdict: string
  rtoSeconds: number | null
}

export interface DrillEvidence {
  at: number
  level: string
  verdict: string
  worstRtoSeconds: number | null
}

export interface Metric {
  name: string
  /** the measured value, null when nothing was recorded in the period */
  value: number | null
  unit: '%' | 's'
  target: string
  ok: boolean | null
  basis: string
}

export interface Month {
  label: string
  from: number
  to: number
}

export function monthOf(raw: string | undefined, now: Date): Month {
  const [y, m] = raw ? raw.split('-').map(Number) : [now.getUTCFullYear(), now.getUTCMonth() + 1]
  const from = Date.UTC(y!, m! - 1, 1)
  const to = Date.UTC(y!, m!, 1)
  return { label: `${y}-${String(m).padStart(2, '0')}`, from, to }
}

const within = (t: number, m: Month) => t >= m.from && t < m.to
const pct = (n: number, d: number) => Math.round((n / d) * 10000) / 100

/** The guide's dashboard targets (Monitoring Dashboard): read by the report and the Grafana dashboard. */
export const GUIDE_TARGETS = { backupSuccessPercent: 99, integrityPercent: 100 } as const

export function backupSuccessRate(outcomes: BackupOutcome[], m: Month): Metric {
  const inMonth = outcomes.filter((o) => within(o.at, m))
  const ok = inMonth.filter((o) => o.ok).length
  const value = inMonth.length ? pct(ok, inMonth.length) : null
  return {
    name: 'backup success rate',
    value,
    unit: '%',
    target: `> ${GUIDE_TARGETS.backupSuccessPercent}%`,
    ok: value === null ? null : value > GUIDE_TARGETS.backupSuccessPercent,
    basis: inMonth.length
      ? `${ok} of ${inMonth.length} backups succeeded (audit log)`
      : 'no backup ran in this month (audit log)',
  }
}

export function recoveryTimeAchieved(proofs: ProofEvidence[], drills: DrillEvidence[], m: Month, rto: number): Metric {
  const times = [
    ...proofs.filter((p) => within(p.at, m) && p.rtoSeconds !== null).map((p) => p.rtoSeconds!),
    ...drills.filter((d) => within(d.at, m) && d.worstRtoSeconds !== null).map((d) => d.worstRtoSeconds!),
  ]
  const value = times.length ? Math.max(...times) : null
  return {
    name: 'recovery time achieved (worst)',
    value,
    unit: 's',
    target: `< ${rto / 3600} h`,
    ok: value === null ? null : value < rto,
    basis: times.length
      ? `worst of ${times.length} measured restores and drills (evidence ledger)`
      : 'no proof or drill measured a recovery in this month',
  }
}

/**
 * Growth of what the repo stores, month over month: the stored bytes of the backups held at
 * the end of the month against those held a month before. Needs a backup from a month ago.
 */
export function storageGrowth(backups: CatalogBackup[], m: Month): Metric {
  const stored = (at: number) =>
    backups.filter((b) => !b.error && b.stop < at).reduce((s, b) => s + (b.repoSize ?? b.size), 0)
  const now = Math.min(m.to, Math.max(0, ...backups.map((b) => b.stop)) + 1)
  const monthAgo = now - 30 * 86400_000
  const before = stored(monthAgo)
  const after = stored(now)
  const value = before > 0 ? pct(after - before, before) : null
  return {
    name: 'backup storage growth (month over month)',
    value,
    unit: '%',
    target: '< 20% (alert above)',
    ok: value === null ? null : value < 20,
    basis:
      before > 0
        ? `${after} bytes stored now vs ${before} a month earlier (catalog)`
        : 'no backup is a month old yet: growth cannot be measured (catalog)',
  }
}

export function integrityScore(proofs: ProofEvidence[], m: Month): Metric {
  const inMonth = proofs.filter((p) => within(p.at, m))
  const proven = inMonth.filter((p) => p.verdict === 'proven').length
  const value = inMonth.length ? pct(proven, inMonth.length) : null
  return {
    name: 'data integrity score',
    value,
    unit: '%',
    target: `${GUIDE_TARGETS.integrityPercent}%`,
    ok: value === null ? null : value >= GUIDE_TARGETS.integrityPercent,
    basis: inMonth.length
      ? `${proven} of ${inMonth.length} proofs found the restore equal to the reference (evidence ledger)`
      : 'no backup was proven in this month: run verify.ts --backup pending',
  }
}

export type ProofStatus = 'proven' | 'failed' | 'unproven'

/** Each backup's newest proof verdict (by label and repo). */
export function proofStatus(
  backups: CatalogBackup[],
  proofs: ProofEvidence[],
): (CatalogBackup & { proof: ProofStatus })[] {
  return backups.map((b) => {
    const mine = proofs.filter((p) => p.backup === b.label && p.repo === b.repo).sort((x, y) => x.at - y.at)
    const last = mine.at(-1)
    return { ...b, proof: !last ? 'unproven' : last.verdict === 'proven' ? 'proven' : 'failed' }
  })
}
