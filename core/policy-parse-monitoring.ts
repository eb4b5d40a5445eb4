/** The policy's monitoring section, validated like the rest (every problem at once). */
import type { Checker } from './policy-check.ts'
import { ALERT_CLASSES, type AlertClass, type AlertClassPolicy, type Monitoring } from './policy.ts'

export function parseMonitoring(c: Checker, raw: unknown): Monitoring {
  const key = 'policy.monitoring'
  const m = c.obj(raw, key)
  c.known(m, key, [
    'scrapeInterval',
    'evaluationInterval',
    'catalogRefresh',
    'backupMaxAge',
    'storageFullPercent',
    'storageGrowthPercent',
    'alerting',
  ])
  const a = c.obj(m.alerting, `${key}.alerting`)
  c.known(a, `${key}.alerting`, ALERT_CLASSES)
  const cls = (name: AlertClass): AlertClassPolicy => {
    const k = `${key}.alerting.${name}`
    const r = c.obj(a[name], k)
    c.known(r, k, ['severity', 'notify', 'escalate'])
    return {
      severity: c.oneOf(r, k, 'severity', ['critical', 'high', 'warning'] as const),
      notify: c.duration(r, k, 'notify', { min: 0, max: 86400 }),
      escalate: c.duration(r, k, 'escalate', { min: 1, max: 7 * 86400 }),
    }
  }
  return {
    scrapeInterval: c.duration(m, key, 'scrapeInterval', { min: 1, max: 300 }),
    evaluationInterval: c.duration(m, key, 'evaluationInterval', { min: 1, max: 300 }),
    catalogRefresh: c.duration(m, key, 'catalogRefresh', { min: 1, max: 3600 }),
    backupMaxAge: c.duration(m, key, 'backupMaxAge', { min: 1 }),
    storageFullPercent: c.int(m, key, 'storageFullPercent', 1, 100),
    storageGrowthPercent: c.int(m, key, 'storageGrowthPercent', 1, 1000),
    alerting: {
      backupFailure: cls('backupFailure'),
      storageFull: cls('storageFull'),
      recoveryTestFailure: cls('recoveryTestFailure'),
    },
  }
}
