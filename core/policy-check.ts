/** The policy validator's checker: each accessor validates one field and collects every problem (key, value, fix). */
import { parseDuration } from './duration.ts'
import { validCron } from './cron.ts'
import type { Problem } from './errors.ts'

export type Raw = Record<string, unknown>
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

export class Checker {
  problems: Problem[] = []
  add(key: string, value: unknown, message: string, fix: string) {
    this.problems.push({ key, value, message, fix })
  }
  obj(raw: unknown, key: string): Raw {
    if (isObj(raw)) return raw
    this.add(key, raw, 'missing or not a mapping', `add a \`${key.split('.').pop()}:\` mapping`)
    return {}
  }
  known(raw: Raw, key: string, allowed: readonly string[]) {
    for (const k of Object.keys(raw)) {
      if (!allowed.includes(k))
        this.add(`${key}.${k}`, raw[k], 'unknown key', `remove it or use one of: ${allowed.join(', ')}`)
    }
  }
  duration(raw: Raw, key: string, field: string, opts: { min?: number; max?: number } = {}): number {
    const v = raw[field]
    const s = parseDuration(v)
    const full = `${key}.${field}`
    if (s === undefined) {
      this.add(full, v, 'not a duration', 'write a number and a unit, e.g. 30s, 15m, 1h, 72h, 4w, 365d')
      return NaN
    }
    if (opts.min !== undefined && s < opts.min) this.add(full, v, `must be at least ${opts.min} s`, 'raise it')
    if (opts.max !== undefined && s > opts.max) this.add(full, v, `must be at most ${opts.max} s`, 'lower it')
    return s
  }
  oneOf<T extends string>(raw: Raw, key: string, field: string, allowed: readonly T[]): T {
    const v = raw[field]
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T
    this.add(`${key}.${field}`, v, `must be one of ${allowed.join(', ')}`, `set it to one of ${allowed.join(', ')}`)
    return allowed[0]!
  }
  str(raw: Raw, key: string, field: string): string {
    const v = raw[field]
    if (typeof v === 'string' && v.trim() !== '') return v
    this.add(`${key}.${field}`, v, 'must be a non-empty string', 'fill it in')
    return ''
  }
  strList(raw: Raw, key: string, field: string, opts: { unique?: boolean; nonEmpty?: boolean } = {}): string[] {
    const v = raw[field]
    const full = `${key}.${field}`
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.trim() === '')) {
      this.add(full, v, 'must be a list of non-empty strings', 'write it as a YAML list')
      return []
    }
    if (opts.nonEmpty && v.length === 0) this.add(full, v, 'must not be empty', 'list at least one entry')
    if (opts.unique) {
      const dup = v.filter((x, i) => v.indexOf(x) !== i)
      if (dup.length) this.add(full, dup, 'has duplicates', 'list each entry once')
    }
    return v as string[]
  }
  int(raw: Raw, key: string, field: string, min: number, max: number): number {
    const v = raw[field]
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v
    this.add(`${key}.${field}`, v, `must be a whole number from ${min} to ${max}`, `set it within ${min}..${max}`)
    return min
  }
  cron(raw: Raw, key: string, field: string): string {
    const v = raw[field]
    if (typeof v === 'string' && validCron(v)) return v
    this.add(
      `${key}.${field}`,
      v,
      'not a 5-field cron expression (minute hour day-of-month month day-of-week)',
      'e.g. "0 2 * * 0" for Sundays 02:00',
    )
    return '0 0 * * *'
  }
}
