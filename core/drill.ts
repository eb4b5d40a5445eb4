/**
 * The drill, pure: what each of the guide's levels runs (from the policy's testing
 * frequencies), and the verdict — every measure against the objectives it answers to, then one
 * line per objective with its worst measured numbers.
 */
import type { DrPolicy, TierId } from './policy.ts'
import { formatDuration } from './duration.ts'

export const DRILL_LEVELS = ['monthly', 'quarterly', 'annual'] as const
export type DrillLevel = (typeof DRILL_LEVELS)[number]
const LEVEL_RANK: Record<DrillLevel, number> = { monthly: 1, quarterly: 2, annual: 3 }
/** a site's `testing` frequency as a level rank; never tested = never in a drill */
const FREQUENCY_RANK: Record<string, number> = { monthly: 1, quarterly: 2, annually: 3, annual: 3 }

export type SiteTest = 'hot' | 'warm' | 'cold'

export interface DrillPlan {
  level: DrillLevel
  /** integrity proof of the newest backup in every repo, PITR to a human error: every level */
  proofs: true
  pitr: true
  /** the sites whose testing frequency falls due at this level, in the order they are drilled */
  sites: SiteTest[]
  /** a test message to every channel of the communication plan, receipt confirmed (quarterly) */
  communication: boolean
  /** the compliance report and the human sign-offs due (annual) */
  compliance: boolean
}

/**
 * The guide's levels: monthly = integrity, sample restore, recovery time; quarterly adds the
 * failover tests and the communication plan; annual adds the cold site and compliance. A site
 * is drilled at every level at or above its policy testing frequency (hot: monthly).
 */
export function drillPlan(p: DrPolicy, level: DrillLevel): DrillPlan {
  const rank = LEVEL_RANK[level]
  const sites = (['hot', 'warm', 'cold'] as const).filter((s) => (FREQUENCY_RANK[p.sites[s].testing] ?? 99) <= rank)
  return { level, proofs: true, pitr: true, sites, communication: rank >= 2, compliance: rank >= 3 }
}

export interface StepResult {
  name: string
  seconds: number
  ok: boolean
  detail: string
}

/** What a measure answers to: the tiers' objectives (a restore of the whole database) or one site's. */
export type Scope = { kind: 'tiers' } | { kind: 'site'; site: SiteTest }

export interface RecoveryMeasure {
  /** what: "PITR after human error", "failover" */
  what: string
  against: Scope
  rtoSeconds: number
  /** the data-loss window in seconds (0 = none) */
  rpoSeconds: number
  /** acknowledged commits missing after recovery (must be 0 when the window announced is 0) */
  lostCommits: number
  /** rows that must have come back and did not */
  missingRows?: number
  /** rows committed after the target that must not be there, and are */
  unexpectedRows?: number
}

export interface Objective {
  name: string
  rto: number
  rpo: number
}

export function objectivesFor(p: DrPolicy, scope: Scope): Objective[] {
  if (scope.kind === 'site') {
    const s = p.sites[scope.site]
    return [{ name: `${scope.site} site`, rto: s.rto, rpo: s.rpo }]
  }
  return ([1, 2, 3] as TierId[]).map((id) => {
    const t = p.tiers[id]
    return { name: `tier ${id} (${t.name})`, rto: t.rto, rpo: t.rpo }
  })
}

export interface ObjectiveVerdict extends Objective {
  ok: boolean
  worstRto: { seconds: number; what: string } | null
  worstRpo: { seconds: number; what: string } | null
  problems: string[]
}

export interface DrillVerdict {
  ok: boolean
  objectives: ObjectiveVerdict[]
  lines: string[]
}

const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(2)}%`

function measureProblems(m: RecoveryMeasure, o: Objective): string[] {
  const problems: string[] = []
  if (!Number.isFinite(m.rtoSeconds)) problems.push('recovery time not measured')
  else if (m.rtoSeconds > o.rto) problems.push(`RTO ${formatDuration(m.rtoSeconds)} exceeds ${formatDuration(o.rto)}`)
  if (!Number.isFinite(m.rpoSeconds)) problems.push('data-loss window not measured')
  else if (m.rpoSeconds > o.rpo)
    problems.push(`data-loss window ${formatDuration(m.rpoSeconds)} exceeds RPO ${formatDuration(o.rpo)}`)
  if (m.lostCommits > 0 && m.rpoSeconds === 0)
    problems.push(`${m.lostCommits} acknowledged commit(s) lost although no loss window was announced`)
  if (m.missingRows) problems.push(`${m.missingRows} row(s) that had to come back are missing`)
  if (m.unexpectedRows) problems.push(`${m.unexpectedRows} row(s) committed after the target are present`)
  return problems
}

export function drillVerdict(p: DrPolicy, steps: StepResult[], measures: RecoveryMeasure[]): DrillVerdict {
  const lines: string[] = []
  for (const s of steps) if (!s.ok) lines.push(`FAILED step "${s.name}": ${s.detail}`)
  const byName = new Map<string, ObjectiveVerdict>()
  for (const m of measures) {
    const objectives = objectivesFor(p, m.against)
    const problems = objectives.flatMap((o) => measureProblems(m, o).map((x) => `${o.name}: ${x}`))
    const first = objectives[0]!
    lines.push(
      `${problems.length ? 'FAIL' : 'PASS'} ${m.what}: RTO ${formatDuration(m.rtoSeconds)} (${pct(m.rtoSeconds, first.rto)} of ${first.name}'s ${formatDuration(first.rto)}), RPO ${formatDuration(m.rpoSeconds)} (limit ${formatDuration(first.rpo)}), ${m.lostCommits} acknowledged commit(s) lost${problems.length ? ` - ${problems.join('; ')}` : ''}`,
    )
    for (const o of objectives) {
      const v = byName.get(o.name) ?? { ...o, ok: true, worstRto: null, worstRpo: null, problems: [] }
      const mine = measureProblems(m, o)
      v.problems.push(...mine.map((x) => `${m.what}: ${x}`))
      v.ok &&= mine.length === 0
      if (!v.worstRto || !(m.rtoSeconds <= v.worstRto.seconds)) v.worstRto = { seconds: m.rtoSeconds, what: m.what }
      if (!v.worstRpo || !(m.rpoSeconds <= v.worstRpo.seconds)) v.worstRpo = { seconds: m.rpoSeconds, what: m.what }
      byName.set(o.name, v)
    }
  }
  const objectives = [...byName.values()]
  lines.push('', 'verdict per objective:')
  for (const o of objectives)
    lines.push(
      `${o.ok ? 'PASS' : 'FAIL'} ${o.name}: RTO ${formatDuration(o.rto)}, worst ${formatDuration(o.worstRto!.seconds)} (${o.worstRto!.what}); RPO ${formatDuration(o.rpo)}, worst ${formatDuration(o.worstRpo!.seconds)} (${o.worstRpo!.what})`,
    )
  if (!objectives.length) lines.push('FAIL nothing was measured')
  const ok = steps.every((s) => s.ok) && objectives.length > 0 && objectives.every((o) => o.ok)
  return { ok, objectives, lines }
}
