/**
 * The cron expressions the DR policy's schedules use (5 fields: minute hour day-of-month month
 * day-of-week): validation, field expansion, and the period between runs. Pure.
 */
import { Cron } from 'croner'

const CRON_RANGES: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
]

/** The values one field stands for (`*`, `a`, `a-b`, lists and `/step`), or undefined when malformed. */
export function expandField(field: string, min: number, max: number): number[] | undefined {
  const out: number[] = []
  for (const part of field.split(',')) {
    const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part)
    if (!m) return undefined
    let lo = min
    let hi = max
    if (m[1] !== '*') {
      const [a, b] = m[1]!.split('-').map(Number)
      lo = a!
      hi = b ?? a!
    }
    const step = m[2] ? Number(m[2]) : 1
    if (lo < min || hi > max || lo > hi || step < 1) return undefined
    for (let i = lo; i <= hi; i += step) out.push(i)
  }
  return out
}

export function validCron(expr: string): boolean {
  const fields = expr.trim().split(/\s+/)
  return fields.length === 5 && fields.every((f, i) => expandField(f, ...CRON_RANGES[i]!) !== undefined)
}

/** The days of the week (0-6, Sunday 0; 7 folds to 0) a cron runs on; undefined for every day. */
export function cronWeekdays(cron: string): Set<number> | undefined {
  const dow = cron.trim().split(/\s+/)[4] ?? '*'
  if (dow === '*') return undefined
  return new Set((expandField(dow, 0, 7) ?? []).map((d) => d % 7))
}

/** The seconds between two runs of a weekly or daily cron (only the shapes the policy allows). */
export function cronPeriodSeconds(cron: string): number {
  const [, , dom] = cron.trim().split(/\s+/)
  const days = cronWeekdays(cron)
  if (dom === '*' && days === undefined) return 86400
  if (days !== undefined) return days.size > 0 ? Math.round((7 / days.size) * 86400) : 7 * 86400
  return 30 * 86400
}

/** The longest gap between runs of any of several crons together: a day when together they cover every weekday. */
export function cronUnionGapSeconds(crons: string[]): number {
  const days = new Set<number>()
  for (const cron of crons) {
    const d = cronWeekdays(cron)
    if (d === undefined) return 86400
    for (const x of d) days.add(x)
  }
  return days.size === 7 ? 86400 : 7 * 86400
}

const WEEK = 7 * 86400

/**
 * The longest gap between two runs of a 5-field cron (UTC). Every day of the month and every
 * month (the policy's shapes): from the fields, over a week of minutes, at once. Otherwise: over
 * croner's next 3000 runs, which costs about a second of CPU per cron (a whole policy validation
 * took 2.2 s that way, and a file of such tests held its worker's event loop for 89 s).
 */
export function cronMaxGapSeconds(cron: string): number {
  const f = cron.trim().split(/\s+/)
  const minutes = expandField(f[0] ?? '', 0, 59)
  const hours = expandField(f[1] ?? '', 0, 23)
  if (f.length !== 5 || !minutes || !hours || f[2] !== '*' || f[3] !== '*') return cronMaxGapByRuns(cron)
  const days = cronWeekdays(cron) ?? new Set([0, 1, 2, 3, 4, 5, 6])
  const at = [...days]
    .flatMap((d) => hours.flatMap((h) => minutes.map((m) => ((d * 24 + h) * 60 + m) * 60)))
    .sort((a, b) => a - b)
  if (!at.length) return Infinity
  let gap = at[0]! + WEEK - at.at(-1)!
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i]! - at[i - 1]!)
  return gap
}

/** The same over croner's next 3000 runs from a Monday (UTC): any cron, slowly. */
export function cronMaxGapByRuns(cron: string): number {
  const runs = new Cron(cron, { timezone: 'UTC', paused: true }).nextRuns(3000, new Date(Date.UTC(2026, 0, 5)))
  let gap = 0
  for (let i = 1; i < runs.length; i++) gap = Math.max(gap, (runs[i]!.getTime() - runs[i - 1]!.getTime()) / 1000)
  return runs.length > 1 ? gap : Infinity
}
