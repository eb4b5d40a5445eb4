/**
 * Prometheus alert rules and the Alertmanager configuration, generated from the policy (pure):
 * every threshold is a tier's or site's objective or a number of policy.monitoring, never
 * re-typed. Each alert belongs to one of the guide's classes (backup failure: critical, at once,
 * escalate after 15 min; storage full: warning, within 1 h, after 4 h; recovery test failure:
 * high, within 30 min, after 2 h). Escalation: each alert has copies that fire after one, two…
 * escalation periods, routed to the next person in the communication plan's notification order.
 */
import { formatDuration } from './duration.ts'
import { archiveTimeoutSeconds, type AlertClass, type DrPolicy } from './policy.ts'

export const RUNBOOK_URL = 'https://github.com/labdojo/labdojo-dr/blob/main/README.md#alerts'
export const EXPORTER_JOB = 'labdojo'
/** The port a cloud stack's exporter serves on in its pod (the Service and the ServiceMonitor name it). */
export const CLOUD_EXPORTER_PORT = 9187
/** What each cloud exporter publishes to CloudWatch for the DNS failover record's health (see dns-failover.ts). */
export const CLOUDWATCH_NAMESPACE = 'LabDojo/DR'
export const PRIMARY_UP_METRIC = 'PrimaryUp'

export interface AlertDef {
  name: string
  class: AlertClass
  expr: string
  /** how long the condition must hold before the alert fires (seconds) */
  for: number
  summary: string
  description: string
}

const d = formatDuration

/** Every alert, its condition and the sentence a person reads at 3 a.m. */
export function alertDefs(p: DrPolicy): AlertDef[] {
  return [...siteAlerts(p), ...backupAlerts(p), ...filesAlerts(), ...capacityAndTestAlerts(p)]
}

/** The application tree (policy.files): each class's newest snapshot within its tier's RPO. */
function filesAlerts(): AlertDef[] {
  return [
    {
      name: 'LabdojoFilesBackupTooOld',
      class: 'backupFailure',
      expr: 'labdojo_files_snapshot_age_seconds > labdojo_files_rpo_seconds',
      for: 0,
      summary: 'The newest {{ $labels.class }} snapshot in repo {{ $labels.repo }} is older than its tier RPO',
      description:
        'The application tree (policy.files) is not being backed up on time. Check the scheduler (`local.ts status`) and `catalog.ts`; take one with `backup.ts --type files|config|source --class {{ $labels.class }}`.',
    },
  ]
}

/** The site and its watchers: down, the hot standby down or lagging. */
function siteAlerts(p: DrPolicy): AlertDef[] {
  const m = p.monitoring
  const hot = p.sites.hot
  return [
    {
      name: 'LabdojoSiteDown',
      class: 'backupFailure',
      expr: 'labdojo_site_up == 0',
      for: 0,
      summary: 'The database site is down: the exporter cannot reach the primary',
      description:
        'No primary answers. Check `local.ts status`; if the primary is dead, `failover.ts` (the hot standby is promoted under the guards).',
    },
    {
      name: 'LabdojoExporterDown',
      class: 'backupFailure',
      expr: `up{job="${EXPORTER_JOB}"} == 0 or absent(up{job="${EXPORTER_JOB}"})`,
      for: 2 * m.scrapeInterval,
      summary: 'Nobody is watching the backups: the DR exporter does not answer',
      description:
        'Prometheus cannot scrape runbooks/monitor.ts. Restart it (`local.ts up --monitoring`); until then no other backup alert can fire.',
    },
    {
      name: 'LabdojoHotStandbyDown',
      class: 'backupFailure',
      expr: 'labdojo_node_up{role="hot"} == 0',
      for: 2 * m.scrapeInterval,
      summary: 'The hot standby {{ $labels.node }} is down: no automatic failover target',
      description: `Start it (\`local.ts up\`) or rejoin it (\`failback.ts\`). Until then a primary failure costs up to the warm site's RPO (${d(p.sites.warm.rpo)}).`,
    },
    {
      name: 'LabdojoReplicationLagHigh',
      class: 'backupFailure',
      expr: `labdojo_replication_lag_seconds{role="hot"} > ${hot.rpo}`,
      for: 0,
      summary: `The hot standby {{ $labels.node }} lags more than the hot site's RPO (${d(hot.rpo)})`,
      description:
        'A failover now would lose more than the hot site allows. Check the standby and the network; `local.ts status` shows the lag.',
    },
  ]
}

/** Backups, WAL archiving, recoverable points, the offsite copy. */
function backupAlerts(p: DrPolicy): AlertDef[] {
  const m = p.monitoring
  const t1 = p.tiers[1]
  const at = archiveTimeoutSeconds(p)
  return [
    {
      name: 'LabdojoBackupFailed',
      class: 'backupFailure',
      expr: 'increase(labdojo_backup_failures_total[1h]) > 0',
      for: 0,
      summary: 'A backup failed ({{ $labels.type }})',
      description:
        'backup.ts reported a failure in the last hour (audit log). Read the audit log entry, fix the cause, run `backup.ts --type {{ $labels.type }}` again.',
    },
    {
      name: 'LabdojoBackupTooOld',
      class: 'backupFailure',
      expr: `time() - max by (repo) (labdojo_backup_last_success_timestamp_seconds) > ${m.backupMaxAge}`,
      for: 0,
      summary: `The newest backup in repo {{ $labels.repo }} is older than ${d(m.backupMaxAge)}`,
      description:
        'Scheduled backups are not landing in this repo. Check the scheduler (`local.ts status`) and the repo; take one with `backup.ts`.',
    },
    {
      name: 'LabdojoRepoUnreachable',
      class: 'backupFailure',
      expr: 'labdojo_repo_reachable == 0',
      for: 2 * m.scrapeInterval,
      summary: 'Backup repo {{ $labels.repo }} does not answer',
      description:
        'pgBackRest cannot read this repo: no backup or WAL reaches it. For repo 2, check the offsite S3 endpoint; WAL is queued locally meanwhile.',
    },
    {
      name: 'LabdojoArchivingFailing',
      class: 'backupFailure',
      expr: 'labdojo_wal_archive_failing == 1',
      for: 2 * m.scrapeInterval,
      summary: 'WAL archiving is failing: point-in-time recovery is falling behind',
      description: `The primary's archive_command fails (pg_stat_archiver). Every minute lost here is lost from PITR; the tier-1 RPO is ${d(t1.rpo)}. Read the PostgreSQL log for the archive error.`,
    },
    {
      name: 'LabdojoRecoverablePointTooOld',
      class: 'backupFailure',
      expr: `labdojo_recoverable_point_age_seconds > ${t1.rpo} unless on () labdojo_wal_archive_current == 1`,
      for: 0,
      summary: `Repo {{ $labels.repo }} cannot recover anything newer than the tier-1 RPO (${d(t1.rpo)}) allows`,
      description:
        'The newest point recoverable from this repo is older than the tier-1 RPO while the primary has WAL it has not archived. Check archiving and the repo; `catalog.ts` shows the windows.',
    },
    {
      name: 'LabdojoOffsiteBehind',
      class: 'backupFailure',
      expr: `labdojo_offsite_queue_oldest_age_seconds > ${at}`,
      for: 0,
      summary: 'The offsite copy (repo 2) is behind: WAL waits locally for it',
      description: `WAL archived to repo 1 has waited more than archive_timeout (${d(at)}) to reach repo 2. The cold site would lose it. Check the offsite S3 endpoint; the queue ships by itself when it answers.`,
    },
  ]
}

/** Storage, and the proofs and drills that test recovery. */
function capacityAndTestAlerts(p: DrPolicy): AlertDef[] {
  const m = p.monitoring
  return [
    {
      name: 'LabdojoStorageHigh',
      class: 'storageFull',
      expr: `100 * labdojo_repo_used_bytes / labdojo_repo_capacity_bytes > ${m.storageFullPercent}`,
      for: 0,
      summary: `Backup storage of repo {{ $labels.repo }} is above ${m.storageFullPercent}%`,
      description: 'Backups will start failing when it is full. Add capacity or shorten retention in the policy.',
    },
    {
      name: 'LabdojoStorageGrowthHigh',
      class: 'storageFull',
      expr: `100 * labdojo_repo_growth_ratio > ${m.storageGrowthPercent}`,
      for: 0,
      summary: `Backup storage of repo {{ $labels.repo }} grew more than ${m.storageGrowthPercent}% in a month`,
      description: 'Plan capacity before it fills; check for a runaway table or a retention change.',
    },
    {
      name: 'LabdojoRecoveryTestFailed',
      class: 'recoveryTestFailure',
      expr: 'labdojo_proof_last_verdict == 0 or labdojo_drill_last_verdict == 0',
      for: 0,
      summary: 'A recovery test failed ({{ $labels.repo }}{{ $labels.level }})',
      description:
        'The last proof or drill did not pass: a backup may not restore. Read its reason in the evidence ledger (`evidence.ts`), fix it, run `verify.ts` or the drill again.',
    },
  ]
}

/** How many people an alert escalates to: the first three of the notification order (the rest are told by people). */
export const ESCALATION_LEVELS = 3

const seconds = (s: number) => `${Math.round(s)}s`

export interface AlertRule {
  alert: string
  expr: string
  for: string
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** The Prometheus rule file (as an object to serialize to YAML; a PrometheusRule's spec in a cluster). */
export function ruleGroups(p: DrPolicy): { groups: { name: string; interval: string; rules: AlertRule[] }[] } {
  const rules = alertDefs(p).flatMap((a) => {
    const cls = p.monitoring.alerting[a.class]
    return Array.from({ length: ESCALATION_LEVELS }, (_, level) => ({
      alert: a.name,
      expr: a.expr,
      for: seconds(a.for + level * cls.escalate),
      labels: { severity: cls.severity, class: a.class, escalation: String(level) },
      annotations: {
        summary: a.summary,
        description: level ? `${a.description} (unresolved for ${d(level * cls.escalate)}: escalated)` : a.description,
        runbook_url: RUNBOOK_URL,
      },
    }))
  })
  return { groups: [{ name: 'labdojo-dr', interval: seconds(p.monitoring.evaluationInterval), rules }] }
}

export interface ReceiverTarget {
  recipient: string
  /** a file holding the Slack-compatible webhook URL (a secret: never in the configuration itself) */
  urlFile?: string
  /** the URL itself: only for a configuration that is itself stored as a secret (the cloud's Kubernetes Secret) */
  url?: string
  email?: string
}

/**
 * Alertmanager's configuration: one route per class and escalation level, to the recipient at
 * that place in the notification order; group_wait is the class's notify delay. A site-down or
 * exporter-down alert inhibits the alerts it causes. Webhook URLs are read from files
 * (api_url_file), so the configuration holds no secret.
 */
export function alertmanagerConfig(p: DrPolicy, targets: ReceiverTarget[], smarthost = '127.0.0.1:25'): object {
  const order = p.communication.notificationOrder.slice(0, ESCALATION_LEVELS)
  const receiverName = (r: string) => r.toLowerCase().replace(/[^a-z0-9]+/g, '-')
  const receivers = [
    { name: 'nobody' },
    ...order.map((recipient) => {
      const mine = targets.filter((t) => t.recipient === recipient)
      const slack = mine.filter((t) => t.urlFile || t.url)
      const mail = mine.filter((t) => t.email)
      return {
        name: receiverName(recipient),
        ...(slack.length
          ? {
              slack_configs: slack.map((t) => ({
                ...(t.url ? { api_url: t.url } : { api_url_file: t.urlFile }),
                send_resolved: true,
                title: '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})',
                text: '{{ range .Alerts }}{{ .Annotations.summary }}: {{ .Annotations.description }} Runbook: {{ .Annotations.runbook_url }}\n{{ end }}',
              })),
            }
          : {}),
        ...(mail.length ? { email_configs: mail.map((t) => ({ to: t.email, send_resolved: true })) } : {}),
      }
    }),
  ]
  const routes = Object.entries(p.monitoring.alerting).flatMap(([cls, c]) =>
    order.map((recipient, level) => ({
      receiver: receiverName(recipient),
      matchers: [`class="${cls}"`, `escalation="${level}"`],
      group_wait: seconds(level ? Math.min(c.notify, 30) : c.notify),
      group_interval: seconds(Math.max(p.monitoring.evaluationInterval, 5)),
      repeat_interval: seconds(Math.max(c.escalate, 60)),
    })),
  )
  return {
    global: {
      smtp_smarthost: smarthost,
      smtp_from: 'labdojo-dr@localhost',
      smtp_require_tls: false,
      resolve_timeout: '5m',
    },
    route: {
      receiver: 'nobody',
      group_by: ['alertname', 'repo', 'node', 'type', 'level'],
      group_wait: '30s',
      group_interval: '5m',
      repeat_interval: '4h',
      routes,
    },
    inhibit_rules: [
      {
        source_matchers: ['alertname=~"LabdojoSiteDown|LabdojoExporterDown"'],
        target_matchers: ['alertname!~"LabdojoSiteDown|LabdojoExporterDown"'],
      },
    ],
    receivers,
  }
}
