/**
 * The policy's files section: the application tree beside the database (the guide's source,
 * configuration and file backups), one entry per data class. Validated like the rest.
 */
import type { Checker } from './policy-check.ts'
import { cronMaxGapSeconds } from './cron.ts'
import { FILE_KINDS, type FileClass, type FileKind, type TierId, type Tier } from './policy.ts'

const STORAGE = ['primary', 'secondary'] as const
const NAME = /^[a-z][a-z0-9-]{0,30}$/

export function parseFiles(c: Checker, raw: unknown, tiers: Record<TierId, Tier>): FileClass[] {
  const key = 'policy.files'
  const f = c.obj(raw, key)
  return Object.entries(f).map(([name, v]) => parseClass(c, `${key}.${name}`, name, v, tiers))
}

function parseClass(c: Checker, key: string, name: string, raw: unknown, tiers: Record<TierId, Tier>): FileClass {
  if (!NAME.test(name)) c.add(key, name, 'is not a class name', 'lower-case letters, digits and dashes, e.g. uploads')
  const r = c.obj(raw, key)
  c.known(r, key, ['kind', 'tier', 'paths', 'schedule', 'retention', 'storage'])
  const kind = c.oneOf(r, key, 'kind', FILE_KINDS) as FileKind
  const tier = c.int(r, key, 'tier', 1, 3) as TierId
  const paths = c.strList(r, key, 'paths', { nonEmpty: true, unique: true })
  for (const p of paths)
    if (p.startsWith('/') || p.split('/').includes('..') || p === '' || p === '.')
      c.add(`${key}.paths`, p, 'must be a path inside the application root', 'e.g. uploads or config/nginx')
  const tierRetention = tiers[tier]?.retention
  const retention =
    r.retention === 'indefinite' ? ('indefinite' as const) : c.duration(r, key, 'retention', { min: 86400 })
  if (kind === 'config' && retention !== 'indefinite')
    c.add(`${key}.retention`, r.retention, 'configurations are kept indefinitely (the guide)', 'retention: indefinite')
  else if (typeof retention === 'number' && tierRetention && retention < tierRetention)
    c.add(
      `${key}.retention`,
      r.retention,
      `is shorter than tier ${tier}'s retention`,
      `at least ${Math.round(tierRetention / 86400)}d`,
    )
  const storage = c.strList(r, key, 'storage', { nonEmpty: true, unique: true })
  const unknown = storage.filter((s) => !(STORAGE as readonly string[]).includes(s))
  if (unknown.length) c.add(`${key}.storage`, unknown, `names unknown storage`, `known: ${STORAGE.join(', ')}`)
  const schedule = c.cron(r, key, 'schedule')
  const rpo = tiers[tier]?.rpo
  if (schedule && rpo && !c.problems.some((p) => p.key === `${key}.schedule`) && cronMaxGapSeconds(schedule) > rpo)
    c.add(
      `${key}.schedule`,
      schedule,
      `runs less often than tier ${tier}'s RPO (${Math.round(rpo / 60)} min) allows`,
      'schedule it at least once per RPO, or put the class in a lower tier',
    )
  return { name, kind, tier, paths, schedule, retention, storage }
}
