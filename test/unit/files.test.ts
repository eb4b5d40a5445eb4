import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readFileSync } from 'node:fs'
import { parsePolicy } from '../../core/policy-parse.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { InputError } from '../../core/errors.ts'
import {
  classesFor,
  expiredSnapshots,
  freshness,
  reposForClasses,
  snapshotAt,
  treeDifferences,
} from '../../core/files.ts'
import { cronMaxGapByRuns, cronMaxGapSeconds } from '../../core/cron.ts'

const ROOT = new URL('../../', import.meta.url).pathname
const policy = loadPolicy(ROOT, 'local')
const raw = () => structuredClone(parse(readFileSync(`${ROOT}/Pulumi.yaml`, 'utf8')).config.policy.value)
const byName = (n: string) => policy.files.find((c) => c.name === n)!
const DAY = 86400_000
const now = new Date('2026-11-30T12:00:00Z')
const ago = (days: number, id = `s${days}`) => ({ id, time: new Date(now.getTime() - days * DAY).toISOString() })

describe('policy.files: the data classes of the application tree', () => {
  it('retention by class follows the guide: tier 2 180 days, tier 3 90 days, logs 2 years, configurations indefinite', () => {
    expect(byName('uploads')).toMatchObject({ kind: 'files', tier: 2, retention: 180 * 86400 })
    expect(byName('staging')).toMatchObject({ tier: 3, retention: 90 * 86400 })
    expect(byName('logs')).toMatchObject({ retention: 730 * 86400 })
    expect(byName('config')).toMatchObject({ kind: 'config', retention: 'indefinite' })
    expect(byName('source').kind).toBe('source')
  })

  it('refuses every bad class at once: kind, path outside the tree, config not kept forever, a schedule slower than the RPO', () => {
    const p = raw()
    p.files.uploads.kind = 'blobs'
    p.files.logs.paths = ['../etc']
    p.files.config.retention = '30d'
    p.files.staging.schedule = '0 2 * * 0' // weekly, tier 3's RPO is a day
    let problems: { key: string }[] = []
    try {
      parsePolicy(p)
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      problems = (e as InputError).problems
    }
    expect(problems.map((x) => x.key).sort()).toEqual([
      'policy.files.config.retention',
      'policy.files.logs.paths',
      'policy.files.staging.schedule',
      'policy.files.uploads.kind',
    ])
  })

  it('the longest gap of a cron, minute crons included', () => {
    expect(cronMaxGapSeconds('*/15 * * * *')).toBe(900)
    expect(cronMaxGapSeconds('5 * * * *')).toBe(3600)
    expect(cronMaxGapSeconds('0 2 * * 0')).toBe(7 * 86400)
    // from the fields, as croner's runs say
    for (const cron of [
      '*/15 * * * *',
      '5 * * * *',
      '0 2 * * 0',
      '0 3 * * 1-6',
      '30 1 * * *',
      '0 */6 * * 1,3,5',
      '0 0,23 * * 2',
    ])
      expect([cron, cronMaxGapSeconds(cron)]).toEqual([cron, cronMaxGapByRuns(cron)])
  })
})

describe('which classes and repos', () => {
  it('--type and --class name classes of policy.files; an unknown class is bad input', () => {
    expect(classesFor(policy, 'files').map((c) => c.name)).toEqual(['uploads', 'logs', 'staging'])
    expect(classesFor(policy, 'config', 'config')).toHaveLength(1)
    expect(() => classesFor(policy, 'config', 'uploads')).toThrow(/--class.*not a config class/)
  })

  it("--repo, or the class's storage", () => {
    expect(reposForClasses([byName('uploads')], undefined)).toEqual([1, 2])
    expect(reposForClasses([byName('staging')], undefined)).toEqual([1])
    expect(reposForClasses([byName('staging')], 'all')).toEqual([1, 2])
    expect(() => reposForClasses([byName('staging')], '3')).toThrow(/--repo/)
  })
})

describe('snapshots: which to restore, which retention removes, how fresh', () => {
  const snaps = [ago(400), ago(200), ago(100), ago(10), ago(0.01)]

  it('restores the newest at or before the time', () => {
    expect(snapshotAt(snaps)?.id).toBe('s0.01')
    expect(snapshotAt(snaps, new Date(now.getTime() - 50 * DAY))?.id).toBe('s100')
    expect(snapshotAt(snaps, new Date(now.getTime() - 500 * DAY))).toBeUndefined()
  })

  it('removes what is past the retention, never the newest, nothing of an indefinite class', () => {
    expect(expiredSnapshots(snaps, byName('uploads'), now).map((s) => s.id)).toEqual(['s400', 's200'])
    expect(expiredSnapshots(snaps, byName('staging'), now).map((s) => s.id)).toEqual(['s400', 's200', 's100'])
    expect(expiredSnapshots(snaps, byName('logs'), now)).toEqual([])
    expect(expiredSnapshots(snaps, byName('config'), now)).toEqual([])
    const old = [ago(400), ago(300)]
    expect(expiredSnapshots(old, byName('staging'), now).map((s) => s.id)).toEqual(['s400'])
  })

  it("ages the newest against the class's tier RPO", () => {
    expect(freshness(policy, byName('uploads'), ago(0.01), now)).toMatchObject({ ok: true, rpoSeconds: 3600 })
    expect(freshness(policy, byName('uploads'), ago(1), now).ok).toBe(false)
    expect(freshness(policy, byName('uploads'), undefined, now)).toMatchObject({ ok: false, ageSeconds: null })
  })
})

describe('a restored tree against its snapshot', () => {
  const snap = [
    { path: '/config', type: 'dir' as const, perm: 0o755 },
    { path: '/config/tls', type: 'dir' as const, perm: 0o700 },
    { path: '/config/tls/server.key', type: 'file' as const, size: 241, perm: 0o600 },
  ]
  it('is equal when every entry matches', () => {
    expect(treeDifferences(snap, structuredClone(snap))).toEqual([])
  })
  it('names a missing file, a wrong mode, a wrong size and an extra file', () => {
    const got = structuredClone(snap)
    got[1]!.perm = 0o755
    got[2]!.size = 0
    got.push({ path: '/config/extra', type: 'file', size: 1, perm: 0o644 })
    expect(treeDifferences(snap, got)).toEqual([
      '/config/tls: mode 755, the snapshot has 700',
      '/config/tls/server.key: 0 bytes, the snapshot has 241',
      '/config/extra: not in the snapshot',
    ])
    expect(treeDifferences(snap, got.slice(0, 2))).toContain('/config/tls/server.key: missing')
  })
})
