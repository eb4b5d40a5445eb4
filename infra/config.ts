/**
 * The stack configuration the Pulumi programs need (Pulumi.prod.yaml, Pulumi.dr.yaml),
 * validated before anything is created: every problem names the key, the value and the fix.
 * The DR policy itself comes from core/policy.ts (Pulumi.yaml), never from here.
 */
import { InputError, type Problem } from '../core/errors.ts'
import { PROJECT, resolvePolicy, type ConfigMap } from '../core/project-config.ts'
import type { DrPolicy } from '../core/policy.ts'

export interface SiteConfig {
  provider: 'aws' | 'gcp'
  region: string
  /** kubeconfig context of the cluster the site's PostgreSQL runs in (none for the cold site) */
  kubeContext?: string
  instances: number
  cpu: string
  memory: string
  storage: string
  /** the DNS name clients of this site reach PostgreSQL at (its load balancer) */
  endpoint?: string
  /** EKS: the cluster's OIDC issuer (oidc.eks.<region>.amazonaws.com/id/<ID>): its pods assume roles by web identity */
  oidcIssuer?: string
}

/** Where each cluster's monitoring plugs in (the Prometheus Operator's Prometheus and Alertmanager). */
export interface MonitoringConfig {
  /** labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by */
  prometheusLabels: Record<string, string>
  alertmanager: { name: string; namespace: string }
  /** the mail relay Alertmanager sends through (host:port) */
  smarthost: string
  /** recipient -> Slack-compatible webhook URL(s); a secret: pulumi config set --secret --path */
  webhooks: Record<string, string | string[]>
}

export interface ProdConfig {
  stack: 'prod'
  policy: DrPolicy
  primary: SiteConfig
  hot: SiteConfig
  bucketPrefix: string
  glacierAfterDays: number
  dns: { zoneId: string; recordName: string }
  alertEmails: Record<string, string>
  monitoring: MonitoringConfig
  storageCapacityBytes: number
  pgoVersion: string
  runbookImage: string
  /** the GCP Storage Transfer service agent's subject id (it reads the replica vault by Google federation) */
  transferAgentSubjectId: string
}

export interface DrConfig {
  stack: 'dr'
  policy: DrPolicy
  warm: SiteConfig
  cold: SiteConfig
  gcpProject: string
  prodStack: string
  bucketPrefix: string
  archiveAfterDays: number
  alertEmails: Record<string, string>
  monitoring: MonitoringConfig
  pgoVersion: string
  runbookImage: string
}

type Raw = Record<string, unknown>
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

class Reader {
  problems: Problem[] = []
  constructor(
    readonly cfg: ConfigMap,
    readonly file: string,
  ) {}
  private key(k: string) {
    return k.includes(':') ? k : `${PROJECT}:${k}`
  }
  private bad(key: string, value: unknown, message: string, fix: string) {
    this.problems.push({ key: `${this.file}: ${key}`, value, message, fix })
  }
  obj(k: string): Raw {
    const v = this.cfg[this.key(k)]
    if (isObj(v)) return v
    this.bad(this.key(k), v, 'missing or not a mapping', `add \`${this.key(k)}:\` to ${this.file}`)
    return {}
  }
  /** A top-level string key under a named rule. */
  top(k: string, rule: Rule): string {
    return this.str(k, undefined, undefined, rule.re, rule.hint)
  }
  str(k: string, o?: Raw, field?: string, re?: RegExp, hint?: string): string {
    const v = o ? o[field!] : this.cfg[this.key(k)]
    const name = o ? `${this.key(k)}.${field}` : this.key(k)
    if (typeof v === 'string' && v.trim() !== '' && (!re || re.test(v))) return v
    this.bad(
      name,
      v,
      re ? `must match ${hint ?? re}` : 'missing',
      `set ${name} in ${this.file}${hint ? ` (${hint})` : ''}`,
    )
    return ''
  }
  int(k: string, o: Raw, field: string, min: number, max: number): number {
    const v = o[field]
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v
    this.bad(`${this.key(k)}.${field}`, v, `must be a whole number from ${min} to ${max}`, `set it in ${this.file}`)
    return min
  }
  site(k: string, name: string, opts: { provider: 'aws' | 'gcp'; k8s: boolean }): SiteConfig {
    const all = this.obj(k)
    const s = isObj(all[name])
      ? (all[name] as Raw)
      : (this.bad(`${this.key(k)}.${name}`, all[name], 'missing', `describe the ${name} site in ${this.file}`), {})
    const key = `${k}.${name}`
    const provider = s.provider
    if (provider !== opts.provider)
      this.bad(
        `${this.key(key)}.provider`,
        provider,
        `the ${name} site runs on ${opts.provider}`,
        `set provider: ${opts.provider}`,
      )
    const region = this.str(
      key,
      s,
      'region',
      opts.provider === 'aws' ? /^[a-z]{2}(-gov)?-[a-z]+-\d$/ : /^[a-z]+-[a-z]+\d$/,
      opts.provider === 'aws' ? 'an AWS region like us-east-1' : 'a GCP region like europe-west1',
    )
    const site: SiteConfig = { provider: opts.provider, region, instances: 0, cpu: '0', memory: '0', storage: '0' }
    if (opts.k8s) {
      site.kubeContext = this.str(key, s, 'kubeContext')
      site.instances = this.int(key, s, 'instances', 1, 9)
      site.cpu = this.str(key, s, 'cpu', /^\d+(\.\d+)?m?$/, 'a CPU quantity like 4 or 500m')
      site.memory = this.str(key, s, 'memory', /^\d+(Mi|Gi|Ti)$/, 'a memory quantity like 16Gi')
      site.storage = this.str(key, s, 'storage', /^\d+(Gi|Ti)$/, 'a volume size like 500Gi')
      site.endpoint = this.str(key, s, 'endpoint', /^[a-z0-9.-]+$/, 'a DNS name')
      if (opts.provider === 'aws')
        site.oidcIssuer = this.str(
          key,
          s,
          'oidcIssuer',
          /^oidc\.eks\.[a-z0-9-]+\.amazonaws\.com\/id\/[A-F0-9]{8,40}$/,
          'the EKS cluster OIDC issuer without https:// (aws eks describe-cluster --query cluster.identity.oidc.issuer)',
        )
    }
    return site
  }
  emails(k: string, policy: DrPolicy): Record<string, string> {
    const o = this.obj(k)
    const out: Record<string, string> = {}
    for (const [who, addr] of Object.entries(o)) {
      if (!policy.communication.notificationOrder.includes(who))
        this.bad(
          `${this.key(k)}.${who}`,
          who,
          `is not in the policy's notification order`,
          `use one of ${policy.communication.notificationOrder.join(', ')}`,
        )
      else if (typeof addr !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(addr))
        this.bad(`${this.key(k)}.${who}`, addr, 'not an email address', 'write name@domain')
      else out[who] = addr
    }
    if (!out[policy.communication.notificationOrder[0]!])
      this.bad(
        this.key(k),
        Object.keys(o),
        `must reach the first in the notification order (${policy.communication.notificationOrder[0]})`,
        'add an address for it',
      )
    return out
  }
  monitoring(policy: DrPolicy): MonitoringConfig {
    const k = 'monitoring'
    const m = this.obj(k)
    const labels = isObj(m.prometheusLabels) ? m.prometheusLabels : {}
    const prometheusLabels: Record<string, string> = {}
    for (const [key, v] of Object.entries(labels)) {
      if (!/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(key) || typeof v !== 'string')
        this.bad(`${this.key(k)}.prometheusLabels.${key}`, v, 'not a Kubernetes label', 'write name: value')
      else prometheusLabels[key] = v
    }
    const am = isObj(m.alertmanager) ? m.alertmanager : {}
    const dns = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
    return {
      prometheusLabels,
      alertmanager: {
        name: this.str(
          `${k}.alertmanager`,
          am,
          'name',
          dns,
          "the Alertmanager resource's name (its Secret is alertmanager-<name>)",
        ),
        namespace: this.str(`${k}.alertmanager`, am, 'namespace', dns, "the Alertmanager resource's namespace"),
      },
      smarthost: this.str(k, m, 'smarthost', /^[a-z0-9.-]+:\d{1,5}$/, 'the mail relay as host:port'),
      webhooks: this.webhooks(policy),
    }
  }
  /** Optional: without webhooks the plan's people are reached by email only. */
  private webhooks(policy: DrPolicy): Record<string, string | string[]> {
    const raw = this.cfg[this.key('alertWebhooks')]
    if (raw === undefined) return {}
    if (!isObj(raw)) {
      this.bad(
        this.key('alertWebhooks'),
        '(hidden)',
        'not a mapping',
        'pulumi config set --secret --path alertWebhooks.<recipient> https://...',
      )
      return {}
    }
    const out: Record<string, string | string[]> = {}
    for (const [who, urls] of Object.entries(raw)) {
      const list = [urls].flat()
      if (!policy.communication.notificationOrder.includes(who))
        this.bad(
          `${this.key('alertWebhooks')}.${who}`,
          who,
          "is not in the policy's notification order",
          `use one of ${policy.communication.notificationOrder.join(', ')}`,
        )
      else if (!list.every((u) => typeof u === 'string' && /^https:\/\//.test(u)))
        this.bad(
          `${this.key('alertWebhooks')}.${who}`,
          '(hidden)',
          'must be https URL(s)',
          'set the Slack-compatible incoming webhook URL',
        )
      else out[who] = urls as string | string[]
    }
    return out
  }
  done<T>(v: T): T {
    if (this.problems.length) throw new InputError(`invalid stack configuration in ${this.file}`, this.problems)
    return v
  }
}

/** Capacity of a site relative to another, by the policy's percentage (warm = 75%). */
export function scaleQuantity(q: string, percent: number): string {
  const m = /^(\d+(?:\.\d+)?)(m|Mi|Gi|Ti)?$/.exec(q)
  if (!m) return q
  const unit = m[2] ?? ''
  if (unit === '') return `${Math.max(1, Math.round((Number(m[1]) * 1000 * percent) / 100))}m`
  return `${Math.max(1, Math.round((Number(m[1]) * percent) / 100))}${unit}`
}

const SAME_REGION = (region: string): Problem => ({
  key: 'Pulumi.prod.yaml: labdojo-dr:sites.hot.region',
  value: region,
  message: 'the hot site must be in another region than the primary',
  fix: 'pick a second region',
})

/** A rule a configured string keeps: its pattern, and the words that say it. */
interface Rule {
  re: RegExp
  hint: string
}

/** The rules prod and dr share, by name: one place to read and to change them. */
const RULES = {
  bucketPrefix: { re: /^[a-z0-9][a-z0-9-]{2,40}$/, hint: 'lower-case letters, digits and -, 3..41 chars' },
  pgoVersion: { re: /^\d+\.\d+\.\d+$/, hint: 'a PGO chart version like 5.7.4' },
  runbookImage: { re: /^[a-z0-9./-]+:[A-Za-z0-9._-]+$/, hint: 'an image with a tag, never :latest' },
  transferAgent: {
    re: /^\d{10,30}$/,
    hint: "the dr project's Storage Transfer agent subject id (the dr stack's transferAgentSubjectId output)",
  },
  gcpProject: { re: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, hint: 'a GCP project id' },
  stackRef: { re: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, hint: 'org/project/stack' },
} satisfies Record<string, Rule>

/** The runbook image, pinned: a moving tag (:latest) makes restores unrepeatable, in every stack. */
function runbookImage(r: Reader): string {
  const image = r.top('runbookImage', RULES.runbookImage)
  if (image.endsWith(':latest'))
    r.problems.push({
      key: `${r.file}: labdojo-dr:runbookImage`,
      value: image,
      message: 'a moving tag makes restores unrepeatable',
      fix: 'pin a version tag',
    })
  return image
}

export function readProdConfig(cfg: ConfigMap): ProdConfig {
  const r = new Reader(cfg, 'Pulumi.prod.yaml')
  const policy = resolvePolicy(cfg, 'Pulumi.yaml + Pulumi.prod.yaml')
  const primary = r.site('sites', 'primary', { provider: 'aws', k8s: true })
  const hot = r.site('sites', 'hot', { provider: 'aws', k8s: true })
  if (primary.region && primary.region === hot.region) r.problems.push(SAME_REGION(hot.region))
  const backup = r.obj('backup')
  const dns = r.obj('dns')
  const out: ProdConfig = {
    stack: 'prod',
    policy,
    primary,
    hot,
    bucketPrefix: r.str('backup', backup, 'bucketPrefix', RULES.bucketPrefix.re, RULES.bucketPrefix.hint),
    glacierAfterDays: r.int('backup', backup, 'glacierAfterDays', 30, 3650),
    storageCapacityBytes: r.int('backup', backup, 'capacityGiB', 1, 1_000_000) * 1024 ** 3,
    dns: {
      zoneId: r.str('dns', dns, 'zoneId', /^Z[A-Z0-9]{4,32}$/, 'a Route53 hosted zone id like Z123456789ABC'),
      recordName: r.str('dns', dns, 'recordName', /^[a-z0-9.-]+\.[a-z]{2,}$/, 'a DNS name like db.labdojo.com'),
    },
    alertEmails: r.emails('alertEmails', policy),
    monitoring: r.monitoring(policy),
    pgoVersion: r.top('pgoVersion', RULES.pgoVersion),
    runbookImage: runbookImage(r),
    transferAgentSubjectId: r.top('transferAgentSubjectId', RULES.transferAgent),
  }
  if (out.glacierAfterDays * 86400 < policy.schedules.pitrWindow)
    r.problems.push({
      key: 'Pulumi.prod.yaml: labdojo-dr:backup.glacierAfterDays',
      value: out.glacierAfterDays,
      message: 'would move WAL needed for the PITR window to Glacier',
      fix: 'keep it above the PITR window',
    })
  return r.done(out)
}

export function readDrConfig(cfg: ConfigMap): DrConfig {
  const r = new Reader(cfg, 'Pulumi.dr.yaml')
  const policy = resolvePolicy(cfg, 'Pulumi.yaml + Pulumi.dr.yaml')
  const warm = r.site('sites', 'warm', { provider: 'gcp', k8s: true })
  const cold = r.site('sites', 'cold', { provider: 'gcp', k8s: false })
  const backup = r.obj('backup')
  return r.done({
    stack: 'dr',
    policy,
    warm,
    cold,
    gcpProject: r.top('gcp:project', RULES.gcpProject),
    prodStack: r.top('prodStack', RULES.stackRef),
    bucketPrefix: r.str('backup', backup, 'bucketPrefix', RULES.bucketPrefix.re, RULES.bucketPrefix.hint),
    archiveAfterDays: r.int('backup', backup, 'archiveAfterDays', 30, 3650),
    alertEmails: r.emails('alertEmails', policy),
    monitoring: r.monitoring(policy),
    pgoVersion: r.top('pgoVersion', RULES.pgoVersion),
    runbookImage: runbookImage(r),
  } satisfies DrConfig)
}
