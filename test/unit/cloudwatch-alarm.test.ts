/** CloudWatch's alarm evaluation and Route53's failover answer, as the twin's stand-ins apply them. */
import { describe, expect, it } from 'vitest'
import { alarmState, failoverAnswer, type AlarmSpec, type Datapoint } from '../../core/cloudwatch-alarm.ts'
import { loginWillNotHeal } from '../../runbooks/lib/adapters/postgres.ts'

// the program's PrimaryUp alarm (infra/components/dns-failover.ts): Maximum < 1 over 3 periods of 60 s
const alarm: AlarmSpec = {
  name: 'db-primary-up',
  namespace: 'LabDojo/DR',
  metricName: 'PrimaryUp',
  dimensions: { Stack: 'prod' },
  period: 60,
  evaluationPeriods: 3,
  threshold: 1,
  comparisonOperator: 'LessThanThreshold',
  statistic: 'Maximum',
  treatMissingData: 'missing',
}
const now = 10 * 60_000 + 30_000
const at = (periodsAgo: number, value: number, dims = { Stack: 'prod' }): Datapoint => ({
  namespace: 'LabDojo/DR',
  metricName: 'PrimaryUp',
  dimensions: dims,
  value,
  at: now - periodsAgo * 60_000,
})

describe('CloudWatch alarm evaluation', () => {
  it.each([
    ['no data at all: INSUFFICIENT_DATA (missing)', [], 'INSUFFICIENT_DATA'],
    ['every observer sees the primary in every period: OK', [at(0, 1), at(1, 1), at(2, 1)], 'OK'],
    [
      'one region loses it, another still sees it (Maximum): OK',
      [at(0, 0), at(0, 1), at(1, 0), at(1, 1), at(2, 1)],
      'OK',
    ],
    ['nobody sees it for 3 periods: ALARM', [at(0, 0), at(1, 0), at(2, 0)], 'ALARM'],
    ['down only in the newest 2 of 3 periods: OK (3 of 3 must breach)', [at(0, 0), at(1, 0), at(2, 1)], 'OK'],
    ['older data falls out of the window', [at(5, 0), at(0, 1)], 'OK'],
    ['another stack does not count', [at(0, 0, { Stack: 'dr' }), at(0, 1)], 'OK'],
  ] as const)('%s', (_, points, expected) => {
    expect(alarmState(alarm, [...points], now, 'OK')).toBe(expected)
  })
  it('treatMissingData: breaching counts silence as down; ignore keeps the state', () => {
    expect(alarmState({ ...alarm, treatMissingData: 'breaching' }, [], now, 'OK')).toBe('ALARM')
    expect(alarmState({ ...alarm, treatMissingData: 'notBreaching' }, [], now, 'ALARM')).toBe('OK')
    expect(alarmState({ ...alarm, treatMissingData: 'ignore' }, [], now, 'ALARM')).toBe('ALARM')
  })
})

describe('Route53 failover answer', () => {
  const records = [
    { name: 'db', setIdentifier: 'primary', failover: 'PRIMARY' as const, value: 'p', healthCheckId: 'hc' },
    { name: 'db', setIdentifier: 'hot', failover: 'SECONDARY' as const, value: 'h' },
  ]
  it('PRIMARY while healthy, SECONDARY when not; a PRIMARY without a health check always answers', () => {
    expect(failoverAnswer(records, 'db', () => true)).toBe('p')
    expect(failoverAnswer(records, 'db', () => false)).toBe('h')
    const { healthCheckId: _, ...noCheck } = records[0]!
    expect(failoverAnswer([noCheck, records[1]!], 'db', () => false)).toBe('p')
    expect(failoverAnswer(records, 'other', () => true)).toBeNull()
  })
})

describe('errors a retry will not cure', () => {
  it.each([
    [{ code: '28P01', message: 'password authentication failed' }, true],
    [{ code: '28000', message: 'no pg_hba.conf entry' }, true],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, true],
    [{ code: '57P03', message: 'the database system is starting up' }, false],
    [{ code: '25006', message: 'cannot execute INSERT in a read-only transaction' }, false],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, false],
  ])('%o -> %s', (e, expected) => {
    expect(loginWillNotHeal(Object.assign(new Error(e.message), { code: e.code }))).toBe(expected)
  })
})
