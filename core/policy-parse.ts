/**
 * Validation of the DR policy as YAML gives it: every key checked (type, range, known names,
 * cross-field rules), every problem reported at once with its key, value and fix.
 */
import { InputError } from './errors.ts'
import { parseMonitoring } from './policy-parse-monitoring.ts'
import { parseFiles } from './policy-parse-files.ts'
import {
  SITE_NAMES,
  type BackupSchedule,
  type Communication,
  type Detection,
  type ReplicationMode,
  type DrPolicy,
  type Schedules,
  type Site,
  type SiteName,
  type Sync,
  type TeamRole,
  type Tier,
  type TierId,
} from './policy.ts'

import { Checker, type Raw } from './policy-check.ts'

const TIER_KEYS = ['name', 'data', 'rpo', 'rto', 'backupFrequency', 'retention'] as const
const SITE_KEYS = ['sync', 'replication', 'failover', 'capacity', 'rto', 'rpo', 'testing', 'syncFallback'] as const

function parseTier(c: Checker, raw: unknown, id: TierId): Tier {
  const key = `policy.tiers.${id}`
  const t = c.obj(raw, key)
  c.known(t, key, TIER_KEYS)
  const rpo = c.duration(t, key, 'rpo', { min: 1 })
  const rto = c.duration(t, key, 'rto', { min: 1 })
  const freqRaw = t.backupFrequency
  const backupFrequency = freqRaw === 'continuous' ? 0 : c.duration(t, key, 'backupFrequency', { min: 60 })
  const retention = c.duration(t, key, 'retention', { min: 86400 })
  if (backupFrequency > 0 && rpo < backupFrequency)
    c.add(
      `${key}.rpo`,
      t.rpo,
      `is shorter than the backup frequency (${t.backupFrequency}), so it cannot be met`,
      'back up at least as often as the RPO, or use backupFrequency: continuous',
    )
  if (retention < rpo)
    c.add(`${key}.retention`, t.retention, 'is shorter than the RPO', 'retain backups longer than the RPO')
  return {
    id,
    name: c.str(t, key, 'name'),
    data: c.strList(t, key, 'data', { nonEmpty: true }),
    rpo,
    rto,
    backupFrequency,
    retention,
  }
}

function parseSyncFallback(c: Checker, s: Raw, key: string, name: SiteName): number | 'never' {
  if (s.syncFallback === undefined || s.syncFallback === 'never') return 'never'
  if (name !== 'hot') {
    // (on an asynchronous hot site it is accepted and has no effect, so a stack can switch modes alone)
    c.add(`${key}.syncFallback`, s.syncFallback, 'only the hot site replicates synchronously', 'remove syncFallback')
    return 'never'
  }
  return c.duration(s, key, 'syncFallback', { min: 1, max: 3600 })
}

function parseSite(c: Checker, raw: unknown, name: SiteName): Site {
  const key = `policy.sites.${name}`
  const s = c.obj(raw, key)
  c.known(s, key, SITE_KEYS)
  const site: Site = {
    name,
    sync: c.oneOf(s, key, 'sync', ['source', 'real-time', 'hourly', 'backup-only'] as const),
    replication: c.oneOf(s, key, 'replication', ['synchronous', 'asynchronous', 'archive', 'none'] as const),
    failover: c.oneOf(s, key, 'failover', ['none', 'automatic', 'manual'] as const),
    capacity: c.int(s, key, 'capacity', 0, 100),
    rto: c.duration(s, key, 'rto', { min: 0 }),
    rpo: c.duration(s, key, 'rpo', { min: 0 }),
    testing: c.oneOf(s, key, 'testing', ['never', 'monthly', 'quarterly', 'annually'] as const),
    syncFallback: parseSyncFallback(c, s, key, name),
  }
  const expected: Record<SiteName, { sync: Sync[]; replication: ReplicationMode[] }> = {
    primary: { sync: ['source'], replication: ['none'] },
    hot: { sync: ['real-time'], replication: ['synchronous', 'asynchronous'] },
    warm: { sync: ['hourly'], replication: ['archive'] },
    cold: { sync: ['backup-only'], replication: ['none'] },
  }
  const e = expected[name]
  if (s.sync !== undefined && !e.sync.includes(site.sync))
    c.add(`${key}.sync`, s.sync, `the ${name} site must sync ${e.sync.join(' or ')}`, `set sync: ${e.sync[0]}`)
  if (s.replication !== undefined && !e.replication.includes(site.replication))
    c.add(
      `${key}.replication`,
      s.replication,
      `the ${name} site replicates by ${e.replication.join(' or ')}`,
      `set replication: ${e.replication[0]}`,
    )
  if (name === 'primary' && site.failover !== 'none')
    c.add(`${key}.failover`, s.failover, 'the primary is not a failover target', 'set failover: none')
  if (name !== 'primary' && site.failover === 'none')
    c.add(`${key}.failover`, s.failover, 'a DR site must be a failover target', 'set failover: automatic or manual')
  if (name === 'hot' && site.capacity < 100)
    c.add(`${key}.capacity`, s.capacity, 'a hot site runs at 100% of the primary', 'set capacity: 100')
  if (name === 'warm' && (site.capacity < 1 || site.capacity > 100))
    c.add(`${key}.capacity`, s.capacity, 'a warm site needs capacity 1..100', 'the guide says 75')
  return site
}

/** Where backups and exports are kept: primary = the local backup storage (repo1), secondary = offsite (repo2). */
export const STORAGE_NAMES = ['primary', 'secondary'] as const

function parseSchedule(c: Checker, raw: unknown, key: string): BackupSchedule {
  const s = c.obj(raw, key)
  c.known(s, key, ['cron', 'retention', 'storage'])
  const storage = c.strList(s, key, 'storage', { nonEmpty: true, unique: true })
  const unknown = storage.filter((x) => !(STORAGE_NAMES as readonly string[]).includes(x))
  if (unknown.length)
    c.add(
      `${key}.storage`,
      unknown,
      `names unknown storage (known: ${STORAGE_NAMES.join(', ')})`,
      'primary = the local backup storage, secondary = offsite',
    )
  return { cron: c.cron(s, key, 'cron'), retention: c.duration(s, key, 'retention', { min: 86400 }), storage }
}

/** Validate a raw policy (as YAML gives it); throws InputError listing every problem. */
export function parsePolicy(raw: unknown, source = 'policy'): DrPolicy {
  const c = new Checker()
  const root = c.obj(raw, 'policy')
  c.known(root, 'policy', ['tiers', 'sites', 'schedules', 'detection', 'communication', 'team', 'monitoring', 'files'])
  const tiers = parseTiers(c, root.tiers)
  const sitesRaw = c.obj(root.sites, 'policy.sites')
  c.known(sitesRaw, 'policy.sites', SITE_NAMES)
  const sites = Object.fromEntries(SITE_NAMES.map((n) => [n, parseSite(c, sitesRaw[n], n)])) as Record<SiteName, Site>
  const schedules = parseSchedules(c, root.schedules)
  const detection = parseDetection(c, root.detection, tiers)
  const communication = parseCommunication(c, root.communication)
  const team = parseTeam(c, root.team)
  const monitoring = parseMonitoring(c, root.monitoring)
  const files = parseFiles(c, root.files, tiers)
  if (c.problems.length) throw new InputError(`invalid DR policy in ${source}`, c.problems)
  return { tiers, sites, schedules, detection, communication, team, monitoring, files }
}

function parseTiers(c: Checker, raw: unknown): Record<TierId, Tier> {
  const tiersRaw = c.obj(raw, 'policy.tiers')
  c.known(tiersRaw, 'policy.tiers', ['1', '2', '3'])
  const tiers = {
    1: parseTier(c, tiersRaw['1'], 1),
    2: parseTier(c, tiersRaw['2'], 2),
    3: parseTier(c, tiersRaw['3'], 3),
  }
  for (const id of [2, 3] as const) {
    const prev = tiers[(id - 1) as TierId]
    if (tiers[id].rpo < prev.rpo)
      c.add(
        `policy.tiers.${id}.rpo`,
        tiersRaw[id] && (tiersRaw[id] as Raw).rpo,
        `is stricter than tier ${id - 1}'s`,
        `a lower tier may not have a tighter RPO than tier ${id - 1}`,
      )
  }
  return tiers
}

function parseDrillCrons(c: Checker, raw: unknown): Schedules['drills'] {
  const key = 'policy.schedules.drills'
  const d = c.obj(raw, key)
  c.known(d, key, ['monthly', 'quarterly', 'annual'])
  return {
    monthly: c.cron(d, key, 'monthly'),
    quarterly: c.cron(d, key, 'quarterly'),
    annual: c.cron(d, key, 'annual'),
  }
}

/** off (default) or beta: pgBackRest 2.45 has block incremental as a beta feature only (the cloud's 2.54 has it GA). */
function parseLocalBlockIncremental(c: Checker, raw: unknown): 'off' | 'beta' {
  if (raw === undefined || raw === 'off') return 'off'
  if (raw === 'beta') return 'beta'
  c.add(
    'policy.schedules.localBlockIncremental',
    raw,
    'must be off or beta',
    'leave it off unless bench/block-incremental.ts shows it pays (pgBackRest 2.45 ships it as beta)',
  )
  return 'off'
}

function parseSchedules(c: Checker, raw: unknown): Schedules {
  const schedRaw = c.obj(raw, 'policy.schedules')
  c.known(schedRaw, 'policy.schedules', [
    'full',
    'incremental',
    'differential',
    'walArchiving',
    'pitrWindow',
    'logicalExport',
    'userProgressExport',
    'drills',
    'localBlockIncremental',
  ])
  const schedules: Schedules = {
    full: parseSchedule(c, schedRaw.full, 'policy.schedules.full'),
    incremental: parseSchedule(c, schedRaw.incremental, 'policy.schedules.incremental'),
    differential: parseSchedule(c, schedRaw.differential, 'policy.schedules.differential'),
    walArchiving: c.oneOf(schedRaw, 'policy.schedules', 'walArchiving', ['continuous'] as const),
    pitrWindow: c.duration(schedRaw, 'policy.schedules', 'pitrWindow', { min: 3600 }),
    logicalExport: parseSchedule(c, schedRaw.logicalExport, 'policy.schedules.logicalExport'),
    userProgressExport: parseSchedule(c, schedRaw.userProgressExport, 'policy.schedules.userProgressExport'),
    drills: parseDrillCrons(c, schedRaw.drills),
    localBlockIncremental: parseLocalBlockIncremental(c, schedRaw.localBlockIncremental),
  }
  if (schedules.incremental.retention > schedules.full.retention)
    c.add(
      'policy.schedules.incremental.retention',
      (schedRaw.incremental as Raw | undefined)?.retention,
      'outlives the full backups it depends on',
      `keep it at most as long as full.retention`,
    )
  if (schedules.pitrWindow > schedules.full.retention)
    c.add(
      'policy.schedules.pitrWindow',
      schedRaw.pitrWindow,
      'is longer than full-backup retention, so the oldest points would have no base backup',
      'shorten it or retain fulls longer',
    )
  return schedules
}

function parseDetection(c: Checker, raw: unknown, tiers: Record<TierId, Tier>): Detection {
  const detRaw = c.obj(raw, 'policy.detection')
  c.known(detRaw, 'policy.detection', ['probeInterval', 'probeTimeout', 'failureThreshold'])
  const detection: Detection = {
    probeInterval: c.duration(detRaw, 'policy.detection', 'probeInterval', { min: 0.05, max: 60 }),
    probeTimeout: c.duration(detRaw, 'policy.detection', 'probeTimeout', { min: 0.05, max: 30 }),
    failureThreshold: c.int(detRaw, 'policy.detection', 'failureThreshold', 2, 20),
  }
  // tier-1 RTO must leave room for detection
  const detectSeconds = detection.failureThreshold * (detection.probeInterval + detection.probeTimeout)
  if (detectSeconds > tiers[1].rto / 4)
    c.add(
      'policy.detection.failureThreshold',
      detRaw.failureThreshold,
      `detection alone would take ${detectSeconds} s, over a quarter of the tier-1 RTO`,
      'probe more often or lower the threshold',
    )
  return detection
}

function parseCommunication(c: Checker, raw: unknown): Communication {
  const comRaw = c.obj(raw, 'policy.communication')
  c.known(comRaw, 'policy.communication', ['notificationOrder', 'channels', 'contacts'])
  const chRaw = c.obj(comRaw.channels, 'policy.communication.channels')
  const ctRaw = c.obj(comRaw.contacts, 'policy.communication.contacts')
  return {
    notificationOrder: c.strList(comRaw, 'policy.communication', 'notificationOrder', { unique: true, nonEmpty: true }),
    channels: {
      internal: c.strList(chRaw, 'policy.communication.channels', 'internal', { nonEmpty: true }),
      external: c.strList(chRaw, 'policy.communication.channels', 'external'),
    },
    contacts: {
      primary: c.str(ctRaw, 'policy.communication.contacts', 'primary'),
      backup: c.str(ctRaw, 'policy.communication.contacts', 'backup'),
    },
  }
}

function parseTeam(c: Checker, raw: unknown): TeamRole[] {
  const teamRaw = c.obj(raw, 'policy.team')
  const team: TeamRole[] = Object.entries(teamRaw).map(([role, v]) => {
    const key = `policy.team.${role}`
    const r = c.obj(v, key)
    c.known(r, key, ['responsibleFor', 'contact'])
    const contact = c.str(r, key, 'contact')
    if (contact && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(contact))
      c.add(`${key}.contact`, contact, 'not an email address', 'write name@domain')
    return { role, responsibleFor: c.str(r, key, 'responsibleFor'), contact }
  })
  for (const role of ['incident_commander', 'technical_lead', 'communications_lead']) {
    if (!team.some((t) => t.role === role))
      c.add(
        `policy.team.${role}`,
        undefined,
        'missing: every incident needs this role',
        `add policy.team.${role} with responsibleFor and contact`,
      )
  }
  return team
}
