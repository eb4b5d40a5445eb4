import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readFileSync } from 'node:fs'
import { archiveTimeoutSeconds, fullsRetained, diffsRetained, offsiteRetentionDays } from '../../core/policy.ts'
import { parsePolicy } from '../../core/policy-parse.ts'
import { validCron, cronPeriodSeconds } from '../../core/cron.ts'
import { InputError } from '../../core/errors.ts'
import { deepMerge, resolvePolicy } from '../../core/project-config.ts'
import { loadPolicy, stackConfig } from '../../config/project-files.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const rawPolicy = () => structuredClone(parse(readFileSync(`${ROOT}/Pulumi.yaml`, 'utf8')).config.policy.value)

function problemsOf(mutate: (p: any) => void): { key: string; message: string; fix?: string }[] {
  const p = rawPolicy()
  mutate(p)
  try {
    parsePolicy(p)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    expect((e as InputError).exitCode).toBe(2)
    return (e as InputError).problems
  }
  throw new Error('policy was accepted')
}

describe('the declared DR policy', () => {
  const policy = loadPolicy(ROOT, 'local')

  it("carries the guide's tiers: RPO, RTO, frequency and retention", () => {
    expect(policy.tiers[1]).toMatchObject({ rpo: 900, rto: 3600, backupFrequency: 0, retention: 365 * 86400 })
    expect(policy.tiers[2]).toMatchObject({ rpo: 3600, rto: 4 * 3600, backupFrequency: 3600, retention: 180 * 86400 })
    expect(policy.tiers[3]).toMatchObject({ rpo: 86400, rto: 86400, backupFrequency: 86400, retention: 90 * 86400 })
  })

  it('carries the four sites with their sync, failover mode, capacity, RTO and RPO', () => {
    expect(policy.sites.hot).toMatchObject({
      sync: 'real-time',
      failover: 'automatic',
      capacity: 100,
      rto: 3600,
      rpo: 900,
    })
    expect(policy.sites.warm).toMatchObject({
      sync: 'hourly',
      failover: 'manual',
      capacity: 75,
      rto: 4 * 3600,
      rpo: 3600,
    })
    expect(policy.sites.cold).toMatchObject({ sync: 'backup-only', rto: 86400, rpo: 86400 })
  })

  it('carries the schedules: full Sun 02:00, incr Mon-Sat 03:00, diff Wed 04:00, 72 h PITR', () => {
    expect(policy.schedules.full.cron).toBe('0 2 * * 0')
    expect(policy.schedules.incremental.cron).toBe('0 3 * * 1-6')
    expect(policy.schedules.differential.cron).toBe('0 4 * * 3')
    expect(policy.schedules.walArchiving).toBe('continuous')
    expect(policy.schedules.pitrWindow).toBe(72 * 3600)
  })

  it("carries the communication plan in the guide's order and the recovery team", () => {
    expect(policy.communication.notificationOrder[0]).toBe('IT_Operations_Manager')
    expect(policy.communication.notificationOrder.at(-1)).toBe('Customers_and_Partners')
    expect(policy.team.map((t) => t.role)).toEqual([
      'incident_commander',
      'technical_lead',
      'communications_lead',
      'business_continuity',
    ])
  })

  it('derives pgBackRest retention and archive_timeout from the policy, not from constants', () => {
    expect(fullsRetained(policy)).toBe(4) // 4 weeks of weekly fulls
    expect(diffsRetained(policy)).toBe(4)
    expect(offsiteRetentionDays(policy)).toBe(365)
    expect(archiveTimeoutSeconds(policy)).toBe(60) // 15 min / 15
    const tighter = parsePolicy(
      deepMerge(rawPolicy(), { tiers: { 1: { rpo: '5m' } }, files: { config: { schedule: '*/5 * * * *' } } }),
    )
    expect(archiveTimeoutSeconds(tighter)).toBe(20)
  })

  it('validates cron expressions and their periods', () => {
    expect(validCron('0 3 * * 1-6')).toBe(true)
    expect(validCron('0 25 * * *')).toBe(false)
    expect(validCron('every sunday')).toBe(false)
    expect(cronPeriodSeconds('0 2 * * 0')).toBe(7 * 86400)
    expect(cronPeriodSeconds('0 1 * * *')).toBe(86400)
  })

  it('applies per-stack overrides by deep merge', () => {
    const cfg = stackConfig(ROOT, 'local')
    cfg['labdojo-dr:policyOverrides'] = { sites: { hot: { replication: 'asynchronous' } } }
    const p = resolvePolicy(cfg, 'test')
    expect(p.sites.hot.replication).toBe('asynchronous')
    expect(p.sites.hot.failover).toBe('automatic') // untouched keys survive the merge
  })

  it('rejects an unknown stack, naming the valid ones', () => {
    expect(() => loadPolicy(ROOT, 'staging')).toThrow(/unknown stack; valid stacks: local, dr, prod/)
  })
})

describe('policy validation reports every problem with key, value and fix', () => {
  const cases: [string, (p: any) => void, string, RegExp][] = [
    ['a malformed duration', (p) => (p.tiers['1'].rpo = '15 minutes'), 'policy.tiers.1.rpo', /not a duration/],
    ['a missing tier', (p) => delete p.tiers['2'], 'policy.tiers.2', /missing/],
    [
      'an RPO the backup frequency cannot meet',
      (p) => (p.tiers['2'].rpo = '30m'),
      'policy.tiers.2.rpo',
      /backup frequency/,
    ],
    ['an unknown key (typo)', (p) => (p.tiers['1'].retenton = '1y'), 'policy.tiers.1.retenton', /unknown key/],
    ['a capacity out of range', (p) => (p.sites.warm.capacity = 140), 'policy.sites.warm.capacity', /0 to 100/],
    ['a hot site below 100% capacity', (p) => (p.sites.hot.capacity = 50), 'policy.sites.hot.capacity', /100%/],
    [
      'an invalid replication mode',
      (p) => (p.sites.hot.replication = 'semi-sync'),
      'policy.sites.hot.replication',
      /synchronous, asynchronous/,
    ],
    [
      'a primary marked as failover target',
      (p) => (p.sites.primary.failover = 'automatic'),
      'policy.sites.primary.failover',
      /not a failover target/,
    ],
    ['a bad cron', (p) => (p.schedules.full.cron = '0 2 * * Sunday'), 'policy.schedules.full.cron', /cron/],
    [
      'block incremental neither off nor beta',
      (p) => (p.schedules.localBlockIncremental = 'on'),
      'policy.schedules.localBlockIncremental',
      /off or beta/,
    ],
    [
      'incrementals outliving their full',
      (p) => (p.schedules.incremental.retention = '8w'),
      'policy.schedules.incremental.retention',
      /outlives/,
    ],
    [
      'a misspelt storage (the copy would silently not be made)',
      (p) => (p.schedules.logicalExport.storage = ['primary', 'secondry']),
      'policy.schedules.logicalExport.storage',
      /unknown storage.*primary, secondary/,
    ],
    [
      'an export without storage',
      (p) => delete p.schedules.userProgressExport.storage,
      'policy.schedules.userProgressExport.storage',
      /list/,
    ],
    [
      'a PITR window beyond full retention',
      (p) => (p.schedules.pitrWindow = '60d'),
      'policy.schedules.pitrWindow',
      /longer than full-backup retention/,
    ],
    [
      'a duplicate in the notification order',
      (p) => p.communication.notificationOrder.push('All_Staff'),
      'policy.communication.notificationOrder',
      /duplicates/,
    ],
    [
      'a missing incident commander',
      (p) => delete p.team.incident_commander,
      'policy.team.incident_commander',
      /missing/,
    ],
    [
      'a contact that is not an email',
      (p) => (p.team.technical_lead.contact = 'call Bob'),
      'policy.team.technical_lead.contact',
      /email/,
    ],
    [
      'a failure threshold out of range',
      (p) => (p.detection.failureThreshold = 1),
      'policy.detection.failureThreshold',
      /2 to 20/,
    ],
    [
      'a tier 2 stricter than tier 1',
      (p) => ((p.tiers['2'].rpo = '5m'), (p.tiers['2'].backupFrequency = '5m')),
      'policy.tiers.2.rpo',
      /stricter/,
    ],
  ]
  for (const [name, mutate, key, message] of cases) {
    it(`rejects ${name} (${key})`, () => {
      const problems = problemsOf(mutate)
      const hit = problems.find((p) => p.key === key)
      expect(hit, JSON.stringify(problems)).toBeDefined()
      expect(hit!.message).toMatch(message)
      expect(hit!.fix).toBeTruthy()
    })
  }

  it('reports all problems at once, not just the first', () => {
    const problems = problemsOf((p) => {
      p.tiers['1'].rpo = 'soon'
      p.sites.warm.capacity = -1
      p.schedules.full.cron = 'weekly'
    })
    expect(problems.map((p) => p.key)).toEqual(
      expect.arrayContaining(['policy.tiers.1.rpo', 'policy.sites.warm.capacity', 'policy.schedules.full.cron']),
    )
  })

  it('accepts the shipped policy for every stack', () => {
    for (const stack of ['local', 'prod', 'dr']) expect(() => loadPolicy(ROOT, stack)).not.toThrow()
  })
})

describe('local block incremental (pgBackRest 2.45 beta): off unless the policy says beta', async () => {
  const { pgbackrestConf } = await import('../../runbooks/lib/sites/local/config-files.ts')
  const { layout } = await import('../../runbooks/lib/sites/local/layout.ts')
  const l = layout('/var/tmp/x/local', 26000, '/var/lib/postgresql')
  const hosts = [{ dataDir: '/d1', port: 26001 }]
  it('the declared policy leaves it off: no beta feature in pgbackrest.conf', () => {
    const p = loadPolicy(ROOT, 'local')
    expect(p.schedules.localBlockIncremental).toBe('off')
    expect(pgbackrestConf(l, p, hosts)).not.toMatch(/beta=y|repo1-block|repo1-bundle/)
  })
  it('beta turns on repo1-bundle and repo1-block, with beta=y, for repo1 only', () => {
    const p = loadPolicy(ROOT, 'local')
    const conf = pgbackrestConf(l, { ...p, schedules: { ...p.schedules, localBlockIncremental: 'beta' } }, hosts)
    expect(conf).toMatch(/^beta=y$/m)
    expect(conf).toMatch(/^repo1-bundle=y$/m)
    expect(conf).toMatch(/^repo1-block=y$/m)
    expect(conf).not.toMatch(/repo2-block/)
  })
})
