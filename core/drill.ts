/**
 * The drill verdict, pure: each step's measured numbers against the tier-1 objectives.
 */
import type { DrPolicy } from './policy.ts'
import { formatDuration } from './duration.ts'

export interface StepResult {
  name: string
  seconds: number
  ok: boolean
  detail: string
}

export interface RecoveryMeasure {
  /** what: "PITR after human error", "failover" */
  what: string
  rtoSeconds: number
  /** the data-loss window in seconds (0 = none) */
  rpoSeconds: number
  /** acknowledged commits missing after recovery (should be 0 where the mode promises it) */
  lostCommits: number
  /** rows that must have come back and did not */
  missingRows?: number
  /** rows committed after the target that must not be there, and are */
  unexpectedRows?: number
}

export interface DrillVerdict {
  ok: boolean
  lines: string[]
}

export function drillVerdict(p: DrPolicy, steps: StepResult[], measures: RecoveryMeasure[]): DrillVerdict {
  const lines: string[] = []
  let ok = steps.every((s) => s.ok)
  for (const s of steps) if (!s.ok) lines.push(`FAILED step "${s.name}": ${s.detail}`)
  const t1 = p.tiers[1]
  for (const m of measures) {
    const problems: string[] = []
    if (m.rtoSeconds > t1.rto)
      problems.push(`RTO ${formatDuration(m.rtoSeconds)} exceeds tier-1 RTO ${formatDuration(t1.rto)}`)
    if (m.rpoSeconds > t1.rpo)
      problems.push(`data-loss window ${formatDuration(m.rpoSeconds)} exceeds tier-1 RPO ${formatDuration(t1.rpo)}`)
    if (m.missingRows) problems.push(`${m.missingRows} row(s) that had to come back are missing`)
    if (m.unexpectedRows) problems.push(`${m.unexpectedRows} row(s) committed after the target are present`)
    const ratio = `RTO ${formatDuration(m.rtoSeconds)} (${((m.rtoSeconds / t1.rto) * 100).toFixed(2)}% of ${formatDuration(t1.rto)}), RPO ${formatDuration(m.rpoSeconds)} (limit ${formatDuration(t1.rpo)}), ${m.lostCommits} acknowledged commit(s) lost`
    lines.push(
      `${problems.length ? 'FAIL' : 'PASS'} ${m.what}: ${ratio}${problems.length ? ` - ${problems.join('; ')}` : ''}`,
    )
    if (problems.length) ok = false
  }
  return { ok, lines }
}
