/**
 * A CloudWatch metric alarm's state from its datapoints, as CloudWatch documents the evaluation
 * ("Evaluating an alarm", Amazon CloudWatch User Guide): the statistic per period over the last
 * `evaluationPeriods` periods; ALARM when `datapointsToAlarm` of them breach (default: all N);
 * missing periods treated per `treatMissingData` (missing: left out, and all missing is
 * INSUFFICIENT_DATA; notBreaching / breaching: counted as such; ignore: the state stays).
 * And Route53's failover answer from its records' health (Route53 Developer Guide, "Failover
 * routing"): the PRIMARY record while it is healthy (or has no health check), else the SECONDARY.
 */

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'

export interface AlarmSpec {
  name: string
  namespace: string
  metricName: string
  dimensions: Record<string, string>
  period: number
  evaluationPeriods: number
  datapointsToAlarm?: number
  threshold: number
  comparisonOperator:
    'GreaterThanOrEqualToThreshold' | 'GreaterThanThreshold' | 'LessThanThreshold' | 'LessThanOrEqualToThreshold'
  statistic: 'Maximum' | 'Minimum' | 'Average' | 'Sum' | 'SampleCount'
  treatMissingData?: 'missing' | 'notBreaching' | 'breaching' | 'ignore'
}

export interface Datapoint {
  namespace: string
  metricName: string
  dimensions: Record<string, string>
  value: number
  /** epoch ms */
  at: number
}

const sameDims = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)

function statistic(s: AlarmSpec['statistic'], xs: number[]): number {
  switch (s) {
    case 'Maximum':
      return Math.max(...xs)
    case 'Minimum':
      return Math.min(...xs)
    case 'Sum':
      return xs.reduce((a, b) => a + b, 0)
    case 'SampleCount':
      return xs.length
    case 'Average':
      return xs.reduce((a, b) => a + b, 0) / xs.length
  }
}

function breaches(a: AlarmSpec, v: number): boolean {
  switch (a.comparisonOperator) {
    case 'GreaterThanOrEqualToThreshold':
      return v >= a.threshold
    case 'GreaterThanThreshold':
      return v > a.threshold
    case 'LessThanThreshold':
      return v < a.threshold
    case 'LessThanOrEqualToThreshold':
      return v <= a.threshold
  }
}

/** The alarm's state at `now`, given its previous state (what `ignore` keeps). */
export function alarmState(a: AlarmSpec, points: Datapoint[], now: number, previous: AlarmState): AlarmState {
  const ms = a.period * 1000
  const current = Math.floor(now / ms)
  const mine = points.filter(
    (p) => p.namespace === a.namespace && p.metricName === a.metricName && sameDims(a.dimensions, p.dimensions),
  )
  const periods: (boolean | null)[] = []
  for (let k = current - a.evaluationPeriods + 1; k <= current; k++) {
    const xs = mine.filter((p) => Math.floor(p.at / ms) === k).map((p) => p.value)
    periods.push(xs.length ? breaches(a, statistic(a.statistic, xs)) : null)
  }
  const treat = a.treatMissingData ?? 'missing'
  const m = a.datapointsToAlarm ?? a.evaluationPeriods
  const present = periods.filter((x) => x !== null) as boolean[]
  if (treat === 'missing' && present.length === 0) return 'INSUFFICIENT_DATA'
  if (treat === 'ignore' && present.length === 0) return previous
  const counted =
    treat === 'breaching'
      ? periods.map((x) => x ?? true)
      : treat === 'notBreaching'
        ? periods.map((x) => x ?? false)
        : present
  const breaching = counted.filter(Boolean).length
  // with missing periods left out, the twin's reading of CloudWatch's table: M of what is there (at least one breach)
  return breaching >= Math.min(m, counted.length) && breaching > 0 ? 'ALARM' : 'OK'
}

export interface FailoverRecord {
  name: string
  setIdentifier: string
  failover: 'PRIMARY' | 'SECONDARY'
  value: string
  healthCheckId?: string
}

/** Route53's answer for a failover name: PRIMARY if healthy (no health check counts as healthy), else SECONDARY. */
export function failoverAnswer(
  records: FailoverRecord[],
  name: string,
  healthy: (healthCheckId: string) => boolean,
): string | null {
  const of = (f: 'PRIMARY' | 'SECONDARY') => records.find((r) => r.name === name && r.failover === f)
  const primary = of('PRIMARY')
  if (primary && (!primary.healthCheckId || healthy(primary.healthCheckId))) return primary.value
  return of('SECONDARY')?.value ?? primary?.value ?? null
}
