/**
 * Issue 12, deliverable 6: what each cluster of the prod and dr stacks gets for monitoring, from
 * the programs run under Pulumi's mock runtime — the exporter Deployment and its account, role
 * and Service, a ServiceMonitor, a PrometheusRule, the Alertmanager Secret and the Grafana
 * dashboard — each validated against the real schemas (the Kubernetes API types of
 * kubernetes-models and the Prometheus Operator's monitoring.coreos.com/v1 types, generated
 * from its Go API), the rules and routes by promtool and amtool, and every metric a rule or a
 * panel names checked against what the exporter really exports.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { runProgram } from '../helpers/infra.ts'
import { K8S_MODELS, isSecret, schemaErrors, unsecret } from '../helpers/k8s-schemas.ts'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { loadPolicy } from '../../config/project-files.ts'
import { alertDefs, CLOUD_EXPORTER_PORT, EXPORTER_JOB } from '../../core/alerts.ts'
import { dashboardPanels } from '../../core/dashboard.ts'
import { alertmanagerYaml, type MonitoringManifestArgs } from '../../infra/components/monitoring-manifests.ts'
import { Exporter } from '../../runbooks/lib/ops/monitor/exporter.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync('/tmp/labdojo-infra-monitoring-')
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', cwd: dir })

type Run = Awaited<ReturnType<typeof runProgram>>
const runs: Partial<Record<'prod' | 'dr', Run>> = {}
beforeAll(async () => {
  runs.prod = await runProgram('prod')
  vi.resetModules() // each stack's program runs in a fresh module graph
  runs.dr = await runProgram('dr')
})

const MODELS = K8S_MODELS

/** The monitoring objects a stack created (by the part-of and name labels the manifests set). */
function monitoringObjects(r: Run) {
  return r.recorded.filter(
    (x) =>
      MODELS[x.type] &&
      (x.inputs.metadata?.labels?.['app.kubernetes.io/name'] === 'labdojo-monitor' ||
        x.type.includes('monitoring.coreos.com') ||
        x.inputs.metadata?.labels?.grafana_dashboard === '1' ||
        /^alertmanager-/.test(x.inputs.metadata?.name ?? '')),
  )
}

/** The metric names the exporter really registers (from a source that is never read). */
const exported = new Set(
  new Exporter({
    policy: loadPolicy(ROOT, 'local'),
    status: async () => Promise.reject(new Error('unused')),
    catalog: async () => Promise.reject(new Error('unused')),
    storage: () => null,
    backupRuns: async () => [],
    evidenceFile: null,
  }).registry
    .getMetricsAsArray()
    .map((m) => m.name),
)
const namedMetrics = (expr: string) => [...expr.matchAll(/\blabdojo_[a-z_]+\b/g)].map((m) => m[0])

describe('the schemas bite', () => {
  it('reject what the API server would (a bad duration in a ServiceMonitor, a container without an image name)', () => {
    const sm = new ServiceMonitor({
      metadata: { name: 'x' },
      spec: { selector: {}, endpoints: [{ port: 'metrics', interval: 'every minute' as any }] },
    })
    expect(() => sm.validate()).toThrow(/interval/)
    const d = new Deployment({
      metadata: { name: 'x' },
      spec: { selector: {}, template: { spec: { containers: [{ image: 'x' } as any] } } },
    })
    expect(() => d.validate()).toThrow(/name/)
  })
})

describe.each(['prod', 'dr'] as const)('stack %s: monitoring in each cluster', (stack) => {
  const sites = stack === 'prod' ? ['primary', 'hot'] : ['warm']

  it('every cluster runs the exporter, its Service, ServiceMonitor, rules, Alertmanager Secret and dashboard', () => {
    const objs = monitoringObjects(runs[stack]!)
    for (const site of sites) {
      const mine = objs.filter((o) => o.inputs.metadata?.labels?.['labdojo.com/site'] === site)
      expect(mine.map((o) => o.type.split(':').pop()).sort()).toEqual(
        [
          'ConfigMap',
          'Deployment',
          'PrometheusRule',
          'Role',
          'RoleBinding',
          'Secret',
          'Service',
          'ServiceAccount',
          'ServiceMonitor',
        ].sort(),
      )
    }
    // the exporter needs the inventory in every cluster (the hot one too)
    const inventories = runs[stack]!.recorded.filter(
      (x) => x.type === 'kubernetes:core/v1:ConfigMap' && x.inputs.metadata?.name === 'labdojo-inventory',
    )
    expect(inventories).toHaveLength(sites.length)
  })

  it('every object validates against its schema', () => {
    const objs = monitoringObjects(runs[stack]!)
    expect(objs.length).toBe(9 * sites.length)
    const errors = schemaErrors(objs)
    expect(errors).toEqual([])
  })

  it('Prometheus scrapes the exporter as job "labdojo" (what the rules expect) at the policy interval', () => {
    const objs = monitoringObjects(runs[stack]!)
    const sm = objs.find((o) => o.type.endsWith('ServiceMonitor'))!.inputs
    const svc = objs.find((o) => o.type === 'kubernetes:core/v1:Service')!.inputs
    expect(svc.metadata.labels[sm.spec.jobLabel]).toBe(EXPORTER_JOB)
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v)
    expect(sm.spec.endpoints[0].interval).toBe(`${loadPolicy(ROOT, stack).monitoring.scrapeInterval}s`)
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack')
    const dep = objs.find((o) => o.type === 'kubernetes:apps/v1:Deployment')!.inputs
    const c = dep.spec.template.spec.containers[0]
    expect(c.args).toEqual(expect.arrayContaining(['runbooks/monitor.ts', '--stack', stack, '--listen', '0.0.0.0']))
    expect(c.ports[0].containerPort).toBe(CLOUD_EXPORTER_PORT)
    // secrets reach it from Secrets, never as arguments or literal values
    expect(c.env.filter((e: any) => /PASS/.test(e.name)).every((e: any) => e.valueFrom?.secretKeyRef)).toBe(true)
    expect(JSON.stringify(c.args)).not.toMatch(/pass|secret|key/i)
  })

  it('promtool accepts the PrometheusRule; it holds every alert of the policy', () => {
    const rule = monitoringObjects(runs[stack]!).find((o) => o.type.endsWith('PrometheusRule'))!.inputs
    writeFileSync(join(dir, `${stack}-rules.yml`), stringify(rule.spec))
    const r = sh('promtool', ['check', 'rules', `${stack}-rules.yml`])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const names = new Set(rule.spec.groups[0].rules.map((x: any) => x.alert))
    expect([...names].sort()).toEqual(
      alertDefs(loadPolicy(ROOT, stack))
        .map((a) => a.name)
        .sort(),
    )
  })

  it("amtool accepts the Alertmanager configuration; it routes to the plan's people by email", () => {
    const secret = monitoringObjects(runs[stack]!).find((o) => o.type === 'kubernetes:core/v1:Secret')!.inputs
    expect(secret.metadata).toMatchObject({ name: 'alertmanager-main', namespace: 'monitoring' })
    expect(isSecret(secret.stringData)).toBe(true) // Pulumi keeps it encrypted in the state
    const yaml = unsecret(secret.stringData)['alertmanager.yaml']
    writeFileSync(join(dir, `${stack}-am.yml`), yaml)
    const r = sh('amtool', ['check-config', `${stack}-am.yml`])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const cfg = parse(yaml)
    expect(cfg.receivers.find((x: any) => x.name === 'it-operations-manager').email_configs[0].to).toBe(
      'itops@labdojo.com',
    )
    expect(cfg.global.smtp_smarthost).toBe('smtp.labdojo.com:587')
  })

  it("the dashboard has the guide's four metrics, each valid PromQL on series the exporter exports", () => {
    const cm = monitoringObjects(runs[stack]!).find((o) => o.inputs.metadata?.labels?.grafana_dashboard === '1')!
    const dash = JSON.parse(cm.inputs.data['labdojo-dr.json'])
    const titles = dash.panels.map((p: any) => p.title).join(' | ')
    for (const t of ['Backup success rate', 'Recovery time achieved', 'Backup storage growth', 'Data integrity score'])
      expect(titles).toContain(t)
    const exprs: string[] = dash.panels.map((p: any) => p.targets[0].expr)
    writeFileSync(
      join(dir, `${stack}-panels.yml`),
      stringify({ groups: [{ name: 'panels', rules: exprs.map((expr, i) => ({ record: `panel:${i}`, expr })) }] }),
    )
    const r = sh('promtool', ['check', 'rules', `${stack}-panels.yml`])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(exprs.flatMap(namedMetrics).filter((m) => !exported.has(m))).toEqual([])
  })
})

describe('one source of truth for metric names', () => {
  it('every rule and every panel names only metrics the exporter exports', () => {
    const policy = loadPolicy(ROOT, 'prod')
    const names = [...alertDefs(policy).map((a) => a.expr), ...dashboardPanels(policy).map((p) => p.expr)].flatMap(
      namedMetrics,
    )
    expect(names.length).toBeGreaterThan(10)
    expect([...new Set(names)].filter((m) => !exported.has(m))).toEqual([])
  })

  it('webhooks from the secret config become Slack receivers inside the Secret, accepted by amtool', () => {
    const a = {
      policy: loadPolicy(ROOT, 'prod'),
      smarthost: 'smtp.labdojo.com:587',
      emails: { IT_Operations_Manager: 'itops@labdojo.com' },
    } as unknown as MonitoringManifestArgs
    const yaml = alertmanagerYaml(a, { IT_Operations_Manager: 'https://hooks.example.test/T0/B0/abc' })
    writeFileSync(join(dir, 'hooks-am.yml'), yaml)
    const r = sh('amtool', ['check-config', 'hooks-am.yml'])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const rx = parse(yaml).receivers.find((x: any) => x.name === 'it-operations-manager')
    expect(rx.slack_configs[0].api_url).toBe('https://hooks.example.test/T0/B0/abc')
  })
})

describe('stack prod: the exporter reads the vaults with a role of its own, and only it assumes it', () => {
  it("the monitor role trusts labdojo-monitor from both clusters' issuers; no other role does", () => {
    const roles = runs.prod!.of('aws:iam/role:Role')
    const trust = (name: string) => JSON.stringify(roles.find((x) => x.name.endsWith(name))!.inputs.assumeRolePolicy)
    expect(trust('-monitor').match(/labdojo-monitor/g)).toHaveLength(2)
    for (const other of ['-writer', '-reader', '-drill']) expect(trust(other)).not.toContain('labdojo-monitor')
    const sa = monitoringObjects(runs.prod!).filter((o) => o.type === 'kubernetes:core/v1:ServiceAccount')
    for (const s of sa) expect(s.inputs.metadata.annotations['eks.amazonaws.com/role-arn']).toMatch(/-monitor$/)
  })
})
