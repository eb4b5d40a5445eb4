/**
 * The Grafana dashboard of the guide's "Monitoring Dashboard" (pure): its four metrics — backup
 * success rate, recovery time, backup storage growth, data integrity score — as PromQL on the
 * exporter's series, each with the guide's target as its threshold (from the policy where the
 * policy holds it). Provisioned in each cluster as a ConfigMap for Grafana's dashboard sidecar.
 */
import { formatDuration } from './duration.ts'
import type { DrPolicy } from './policy.ts'
import { GUIDE_TARGETS } from './report.ts'

export interface DashboardPanel {
  title: string
  expr: string
  unit: 'percent' | 's'
  /** below (min) or above (max) this the panel turns red */
  threshold: { value: number; bad: 'below' | 'above' }
  description: string
}

const WINDOW = '30d'

export function dashboardPanels(p: DrPolicy): DashboardPanel[] {
  const ok = `sum(increase(labdojo_backup_successes_total[${WINDOW}]))`
  const failed = `sum(increase(labdojo_backup_failures_total[${WINDOW}]))`
  const rto = p.tiers[1].rto
  return [
    {
      title: 'Backup success rate (30 days)',
      expr: `100 * ${ok} / (${ok} + ${failed})`,
      unit: 'percent',
      threshold: { value: GUIDE_TARGETS.backupSuccessPercent, bad: 'below' },
      description: `Backups that succeeded, of all that ran. Target > ${GUIDE_TARGETS.backupSuccessPercent}%.`,
    },
    {
      title: 'Recovery time achieved (worst, newest drill per level)',
      expr: 'max(labdojo_drill_last_rto_seconds)',
      unit: 's',
      threshold: { value: rto, bad: 'above' },
      description: `Measured time to the first accepted write in the newest drill of each level. Target < ${formatDuration(rto)} (tier-1 RTO).`,
    },
    {
      title: 'Backup storage growth (month over month)',
      expr: 'max by (repo) (100 * labdojo_repo_growth_ratio)',
      unit: 'percent',
      threshold: { value: p.monitoring.storageGrowthPercent, bad: 'above' },
      description: `Stored bytes now against a month ago. Alert above ${p.monitoring.storageGrowthPercent}%.`,
    },
    {
      title: 'Data integrity score',
      expr: '100 * sum(labdojo_proofs_total{verdict="proven"}) / sum(labdojo_proofs_total)',
      unit: 'percent',
      threshold: { value: GUIDE_TARGETS.integrityPercent, bad: 'below' },
      description: `Proofs whose restore equalled the reference, of all proofs. Target ${GUIDE_TARGETS.integrityPercent}%.`,
    },
    {
      title: 'Latest recoverable point: age per repo',
      expr: 'labdojo_recoverable_point_age_seconds',
      unit: 's',
      threshold: { value: p.tiers[1].rpo, bad: 'above' },
      description: `How far back a restore from each repo would land. Tier-1 RPO ${formatDuration(p.tiers[1].rpo)}.`,
    },
  ]
}

/** Grafana's dashboard JSON (schemaVersion 39): one stat panel per metric, on the Prometheus data source. */
export function grafanaDashboard(p: DrPolicy): Record<string, unknown> {
  const panels = dashboardPanels(p).map((panel, i) => {
    const [good, bad] = ['green', 'red']
    const steps =
      panel.threshold.bad === 'below'
        ? [
            { color: bad, value: null },
            { color: good, value: panel.threshold.value },
          ]
        : [
            { color: good, value: null },
            { color: bad, value: panel.threshold.value },
          ]
    return {
      id: i + 1,
      type: 'stat',
      title: panel.title,
      description: panel.description,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 6, w: 8, x: (i % 3) * 8, y: Math.floor(i / 3) * 6 },
      targets: [{ refId: 'A', expr: panel.expr, datasource: { type: 'prometheus', uid: '${datasource}' } }],
      fieldConfig: { defaults: { unit: panel.unit, thresholds: { mode: 'absolute', steps } }, overrides: [] },
      options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background' },
    }
  })
  return {
    uid: 'labdojo-dr',
    title: 'LabDojo DR',
    tags: ['labdojo-dr'],
    timezone: 'utc',
    schemaVersion: 39,
    refresh: `${Math.max(p.monitoring.scrapeInterval, 10)}s`,
    time: { from: 'now-30d', to: 'now' },
    templating: {
      list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }],
    },
    panels,
  }
}
