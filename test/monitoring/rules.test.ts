/**
 * The alert rules and the Alertmanager configuration generated from the policy, checked by the
 * real tools: `promtool check rules`, `promtool test rules` (synthetic series: each alert fires
 * when it must and stays quiet when it must not, thresholds taken from the policy, escalation
 * reaching the next person), `amtool check-config`, and `amtool config routes test`.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { alertDefs, alertmanagerConfig, ruleGroups, ESCALATION_LEVELS } from '../../core/alerts.ts'
import { archiveTimeoutSeconds } from '../../core/policy.ts'
import { loadPolicy } from '../../config/project-files.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const policy = loadPolicy(ROOT, 'local')
const dir = mkdtempSync('/tmp/labdojo-rules-')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', cwd: dir })
const rulesFile = join(dir, 'rules.yml')
writeFileSync(rulesFile, stringify(ruleGroups(policy)))

type Labels = Record<string, string>
interface Case {
  alert: string
  series: [string, string][]
  /** the labels of the series that must fire at `at` (seconds) */
  fires: Labels[]
  at?: number
}

const m = policy.monitoring
const defs = Object.fromEntries(alertDefs(policy).map((a) => [a.name, a]))
const render = (text: string, labels: Labels) => text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k) => labels[k] ?? '')

/** The alerts that must be firing for one series at time `at`: each escalation level whose `for` has passed. */
function expected(alert: string, labels: Labels, at: number) {
  const def = defs[alert]!
  const cls = m.alerting[def.class]
  const rule = ruleGroups(policy).groups[0]!.rules as { alert: string; labels: Labels; annotations: Labels }[]
  return rule
    .filter((r) => r.alert === alert)
    .filter((r) => def.for + Number(r.labels.escalation) * cls.escalate <= at - 15) // at least one evaluation after
    .map((r) => ({
      exp_labels: { ...labels, ...r.labels },
      exp_annotations: Object.fromEntries(Object.entries(r.annotations).map(([k, v]) => [k, render(v, labels)])),
    }))
}

const t1 = policy.tiers[1]
const hotRpo = policy.sites.hot.rpo
const cases: Case[] = [
  {
    alert: 'LabdojoSiteDown',
    series: [
      ['labdojo_site_up{site="a"}', '0x40'],
      ['labdojo_site_up{site="b"}', '1x40'],
    ],
    fires: [{ site: 'a' }],
  },
  {
    alert: 'LabdojoExporterDown',
    series: [
      ['up{job="labdojo",instance="e"}', '0x40'],
      ['up{job="other",instance="o"}', '0x40'],
    ],
    fires: [{ job: 'labdojo', instance: 'e' }],
  },
  {
    alert: 'LabdojoBackupFailed',
    series: [
      ['labdojo_backup_failures_total{type="full"}', '0 0 0 1 1 1 1 1 1 1'],
      ['labdojo_backup_failures_total{type="incr"}', '2x40'],
    ],
    fires: [{ type: 'full' }],
    at: 120,
  },
  {
    alert: 'LabdojoBackupTooOld',
    series: [
      [`labdojo_backup_last_success_timestamp_seconds{repo="1",type="full"}`, `${-m.backupMaxAge}x40`],
      [`labdojo_backup_last_success_timestamp_seconds{repo="2",type="full"}`, `${-m.backupMaxAge}x40`],
      [`labdojo_backup_last_success_timestamp_seconds{repo="2",type="incr"}`, '0x40'],
    ],
    fires: [{ repo: '1' }],
  },
  {
    alert: 'LabdojoFilesBackupTooOld',
    series: [
      ['labdojo_files_snapshot_age_seconds{class="uploads",repo="1"}', '7200x40'],
      ['labdojo_files_rpo_seconds{class="uploads",repo="1"}', '3600x40'],
      ['labdojo_files_snapshot_age_seconds{class="config",repo="2"}', '60x40'],
      ['labdojo_files_rpo_seconds{class="config",repo="2"}', '900x40'],
    ],
    fires: [{ class: 'uploads', repo: '1' }],
  },
  {
    alert: 'LabdojoRepoUnreachable',
    series: [
      ['labdojo_repo_reachable{repo="2"}', '0x40'],
      ['labdojo_repo_reachable{repo="1"}', '1x40'],
    ],
    fires: [{ repo: '2' }],
  },
  {
    alert: 'LabdojoArchivingFailing',
    series: [
      ['labdojo_wal_archive_failing{site="a"}', '1x40'],
      ['labdojo_wal_archive_failing{site="b"}', '0x40'],
    ],
    fires: [{ site: 'a' }],
  },
  {
    alert: 'LabdojoRecoverablePointTooOld',
    series: [
      [`labdojo_recoverable_point_age_seconds{repo="1"}`, `${t1.rpo + 60}x40`],
      [`labdojo_recoverable_point_age_seconds{repo="2"}`, `${t1.rpo - 60}x40`],
      ['labdojo_wal_archive_current', '0x40'],
    ],
    fires: [{ repo: '1' }],
  },
  {
    // an idle primary with nothing unarchived: an old point is no lag
    alert: 'LabdojoRecoverablePointTooOld',
    series: [
      [`labdojo_recoverable_point_age_seconds{repo="1"}`, `${t1.rpo + 60}x40`],
      ['labdojo_wal_archive_current', '1x40'],
    ],
    fires: [],
  },
  {
    alert: 'LabdojoOffsiteBehind',
    series: [
      [`labdojo_offsite_queue_oldest_age_seconds{site="a"}`, `${archiveTimeoutSeconds(policy) + 5}x40`],
      [`labdojo_offsite_queue_oldest_age_seconds{site="b"}`, `${archiveTimeoutSeconds(policy) - 5}x40`],
    ],
    fires: [{ site: 'a' }],
  },
  {
    alert: 'LabdojoHotStandbyDown',
    series: [
      ['labdojo_node_up{node="node2",role="hot"}', '0x40'],
      ['labdojo_node_up{node="node3",role="warm"}', '0x40'],
    ],
    fires: [{ node: 'node2', role: 'hot' }],
  },
  {
    alert: 'LabdojoReplicationLagHigh',
    series: [
      [`labdojo_replication_lag_seconds{node="node2",role="hot"}`, `${hotRpo + 1}x40`],
      [`labdojo_replication_lag_seconds{node="node3",role="warm"}`, `${hotRpo * 10}x40`],
    ],
    fires: [{ node: 'node2', role: 'hot' }],
  },
  {
    alert: 'LabdojoStorageHigh',
    series: [
      ['labdojo_repo_used_bytes{repo="1"}', `${m.storageFullPercent + 1}x40`],
      ['labdojo_repo_capacity_bytes{repo="1"}', '100x40'],
      ['labdojo_repo_used_bytes{repo="2"}', `${m.storageFullPercent - 1}x40`],
      ['labdojo_repo_capacity_bytes{repo="2"}', '100x40'],
    ],
    fires: [{ repo: '1' }],
  },
  {
    alert: 'LabdojoStorageGrowthHigh',
    series: [
      ['labdojo_repo_growth_ratio{repo="1"}', `${(m.storageGrowthPercent + 1) / 100}x40`],
      ['labdojo_repo_growth_ratio{repo="2"}', `${(m.storageGrowthPercent - 1) / 100}x40`],
    ],
    fires: [{ repo: '1' }],
  },
  {
    alert: 'LabdojoRecoveryTestFailed',
    series: [
      ['labdojo_proof_last_verdict{repo="1"}', '0x40'],
      ['labdojo_proof_last_verdict{repo="2"}', '1x40'],
      ['labdojo_drill_last_verdict{level="monthly"}', '0x40'],
    ],
    fires: [{ repo: '1' }, { level: 'monthly' }],
  },
]

function promtoolTest(name: string, c: Case): string {
  const at = c.at ?? 60
  const file = join(dir, `${name}.test.yml`)
  const test = {
    rule_files: [rulesFile],
    evaluation_interval: `${m.evaluationInterval}s`,
    tests: [
      {
        interval: '15s',
        input_series: c.series.map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          { eval_time: `${at}s`, alertname: c.alert, exp_alerts: c.fires.flatMap((l) => expected(c.alert, l, at)) },
        ],
      },
    ],
  }
  writeFileSync(file, stringify(test))
  return file
}

describe('alert rules from the policy', () => {
  it('promtool check rules accepts them; every alert exists at every escalation level', () => {
    const r = run('promtool', ['check', 'rules', rulesFile])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`SUCCESS: ${alertDefs(policy).length * ESCALATION_LEVELS} rules found`))
  })

  it('every alert has a test case', () => {
    expect(new Set(cases.map((c) => c.alert))).toEqual(new Set(Object.keys(defs)))
  })

  for (const [i, c] of cases.entries())
    it(`${c.alert} fires for ${JSON.stringify(c.fires)} and stays quiet for the rest (promtool test rules)`, () => {
      const r = run('promtool', ['test', 'rules', promtoolTest(`case${i}`, c)])
      expect(r.status, r.stdout + r.stderr).toBe(0)
    })

  it('escalates: unresolved past the class escalation, the next level fires too; thresholds follow the policy', () => {
    const cls = m.alerting.backupFailure
    const at = defs.LabdojoArchivingFailing!.for + cls.escalate + 60
    const c: Case = {
      alert: 'LabdojoArchivingFailing',
      series: [['labdojo_wal_archive_failing', `1x${Math.ceil(at / 15) + 4}`]],
      fires: [{}],
      at,
    }
    expect(expected(c.alert, {}, at).map((a) => a.exp_labels.escalation)).toEqual(['0', '1'])
    const r = run('promtool', ['test', 'rules', promtoolTest('escalation', c)])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    // a tighter policy moves the threshold: the same series now fires for repo 2 as well
    const strict = structuredClone(policy)
    strict.monitoring.storageFullPercent = 50
    expect(JSON.stringify(ruleGroups(strict))).toContain('> 50')
  })

  it('a rule that cannot fire is caught: a test expecting an alert on healthy series fails', () => {
    const c: Case = {
      alert: 'LabdojoSiteDown',
      series: [['labdojo_site_up{site="a"}', '1x40']],
      fires: [{ site: 'a' }],
    }
    expect(run('promtool', ['test', 'rules', promtoolTest('negative', c)]).status).not.toBe(0)
  })
})

describe('Alertmanager configuration from the communication plan', () => {
  const urlFile = join(dir, 'it-ops.url')
  writeFileSync(urlFile, 'http://127.0.0.1:9/hook', { mode: 0o600 })
  const order = policy.communication.notificationOrder
  const config = alertmanagerConfig(policy, [
    { recipient: order[0]!, urlFile },
    { recipient: order[1]!, urlFile, email: 'bc@labdojo.com' },
    { recipient: order[2]!, email: 'exec@labdojo.com' },
  ])
  const amFile = join(dir, 'alertmanager.yml')
  writeFileSync(amFile, stringify(config))

  it('amtool check-config accepts it; it holds no webhook URL, only the files', () => {
    const r = run('amtool', ['check-config', amFile])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(JSON.stringify(config)).not.toContain('http://127.0.0.1:9/hook')
  })

  it('routes each class and escalation level to the next person in the notification order', () => {
    const route = (...labels: string[]) =>
      run('amtool', ['config', 'routes', 'test', `--config.file=${amFile}`, ...labels]).stdout.trim()
    expect(route('class=backupFailure', 'escalation=0', 'alertname=LabdojoArchivingFailing')).toBe(
      'it-operations-manager',
    )
    expect(route('class=backupFailure', 'escalation=1')).toBe('business-continuity-team')
    expect(route('class=recoveryTestFailure', 'escalation=2')).toBe('executive-leadership')
    expect(route('alertname=Other')).toBe('nobody')
  })

  it('waits per class as the guide says before the first notification', () => {
    const routes = (config as { route: { routes: { matchers: string[]; group_wait: string }[] } }).route.routes
    const wait = (cls: string) =>
      routes.find((r) => r.matchers.includes(`class="${cls}"`) && r.matchers.includes('escalation="0"'))!.group_wait
    expect([wait('backupFailure'), wait('storageFull'), wait('recoveryTestFailure')]).toEqual(['0s', '3600s', '1800s'])
  })
})
