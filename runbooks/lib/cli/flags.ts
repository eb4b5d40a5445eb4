/**
 * Flag values every runbook parses the same way: each bad value is an InputError (exit 2)
 * naming the flag, the valid range and an example.
 */
import { isAbsolute, resolve } from 'node:path'
import { inputError } from '../../../core/errors.ts'
import { impossibleDate, parseTarget } from '../../../core/recovery-target.ts'
import { DRILL_LEVELS, type DrillLevel } from '../../../core/drill.ts'
import { DEFAULT_BASE_PORT } from '../sites/local/layout.ts'

/**
 * A flag's number as an operator writes it: decimal digits (and, where fractions make sense, one
 * point), nothing else. Number() alone would read 0x1 as 1, ' 1' as 1, 1e1 as 10 and 28015.0 as
 * a port; NaN here falls to each parser's own range message.
 */
export function decimalNumber(raw: string, fraction = false): number {
  return (fraction ? /^(\d+(\.\d+)?|\.\d+)$/ : /^\d+$/).test(raw) ? Number(raw) : NaN
}

export function parseBasePort(raw: string | undefined, key = '--base-port'): number {
  if (raw === undefined) return DEFAULT_BASE_PORT
  const n = decimalNumber(raw)
  if (!Number.isInteger(n) || n < 1024 || n > 32748)
    throw inputError(
      key,
      raw,
      'must be a whole number from 1024 to 32748 (the site uses it and the next 19 ports, below the ephemeral range)',
      `pick a free range, e.g. ${key} ${DEFAULT_BASE_PORT}`,
    )
  return n
}

export function parseScale(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const n = decimalNumber(raw, true)
  if (!Number.isFinite(n) || n < 0.001 || n > 20)
    throw inputError(
      '--scale',
      raw,
      'must be a number from 0.001 to 20 (1 = about 1 GB)',
      'e.g. --scale 0.1 for ~100 MB',
    )
  return n
}

export function parseLevel(raw: string | undefined): DrillLevel {
  if (raw === undefined) return 'monthly'
  if ((DRILL_LEVELS as readonly string[]).includes(raw)) return raw as DrillLevel
  throw inputError('--level', raw, `must be one of ${DRILL_LEVELS.join(', ')}`, 'e.g. --level quarterly')
}

export function parseMonth(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined
  const m = /^(\d{4})-(\d{2})$/.exec(raw)
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12 || Number(m[1]) < 2000)
    throw inputError('--month', raw, 'must be a month as YYYY-MM (01..12)', 'e.g. --month 2026-11')
  return raw
}

export function parseStandbyRole(raw: string | undefined): 'hot' | 'warm' {
  if (raw === undefined || raw === 'hot' || raw === 'warm') return raw ?? 'hot'
  throw inputError('--as', raw, 'must be hot or warm', 'e.g. --as warm for the warm site')
}

export function parseRate(raw: string | undefined): number {
  if (raw === undefined) return 50
  const n = decimalNumber(raw, true)
  if (!Number.isFinite(n) || n < 1 || n > 2000)
    throw inputError('--rate', raw, 'must be a number of commits per second from 1 to 2000', 'e.g. --rate 50')
  return n
}

export function parsePort(raw: string | undefined, example: number): number | undefined {
  if (raw === undefined) return undefined
  const n = decimalNumber(raw)
  if (!Number.isInteger(n) || n < 1024 || n > 65535)
    throw inputError('--port', raw, 'must be a port from 1024 to 65535', `e.g. --port ${example}`)
  return n
}

export function parseRepo(raw: string | undefined, available: number[]): number | undefined {
  if (raw === undefined) return undefined
  const n = decimalNumber(raw)
  if (!available.includes(n))
    throw inputError('--repo', raw, `must be one of ${available.join(', ')}`, `e.g. --repo ${available[0]}`)
  return n
}

export function parseStandbySite(raw: string | undefined): 'hot' | 'warm' {
  const to = raw ?? 'hot'
  if (to !== 'hot' && to !== 'warm') throw inputError('--to', to, 'must be hot or warm', 'e.g. --to hot')
  return to
}

/** A number of seconds >= 0 (fallback when absent). */
export function parseSeconds(raw: string | undefined, key: string, fallback: number): number {
  if (raw === undefined) return fallback
  const n = decimalNumber(raw, true)
  if (!Number.isFinite(n) || n < 0) throw inputError(key, raw, 'must be a number of seconds >= 0', `e.g. ${key} 600`)
  return n
}

/** --files|--config|--source: --at (a time), --repo, and exactly one of --into DIR or --in-place. */
export function parseFilesRestore(flags: Record<string, string | boolean | undefined>, kinds: string[]) {
  for (const bad of ['target', 'port', 'accept-data-loss', 'dry-run'])
    if (flags[bad] !== undefined && flags[bad] !== false)
      throw inputError(`--${bad}`, flags[bad], `does not go with --${kinds.join(', --')}`, `drop --${bad}`)
  let at: ReturnType<typeof parseTarget> | undefined
  try {
    at = flags.at === undefined ? undefined : parseTarget(String(flags.at))
  } catch {
    at = undefined
  }
  if (flags.at !== undefined && at?.kind !== 'time')
    throw inputError(
      '--at',
      flags.at,
      `must be an ISO-8601 time with zone${impossibleDate(String(flags.at)) ? ` (${impossibleDate(String(flags.at))})` : ''}`,
      'e.g. --at 2026-11-26T04:00:30Z, or leave it out for the newest snapshot',
    )
  const into = flags.into as string | undefined
  const inPlace = !!flags['in-place']
  if (!!into === inPlace)
    throw inputError(
      '--into',
      into ?? 'absent',
      'give exactly one of --into DIR and --in-place',
      'e.g. --into /var/tmp/restored',
    )
  if (into && !isAbsolute(into))
    throw inputError('--into', into, 'must be an absolute path', `e.g. --into ${resolve(into)}`)
  const repo = flags.repo === undefined ? undefined : decimalNumber(String(flags.repo))
  if (repo !== undefined && repo !== 1 && repo !== 2)
    throw inputError('--repo', flags.repo, 'must be 1 or 2', 'e.g. --repo 2')
  return { at: at?.kind === 'time' ? new Date(at.at) : undefined, into, inPlace, repo }
}
