/**
 * Recovery targets, pure: parse what the operator typed (every form, each refusal with the fix),
 * describe it, and map it to pgBackRest's restore arguments.
 */
import { inputError } from './errors.ts'

export type RecoveryTarget =
  | { kind: 'latest' }
  | { kind: 'immediate' }
  | { kind: 'time'; at: number; text: string }
  | { kind: 'lsn'; lsn: string }
  | { kind: 'name'; name: string }

const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)$/
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i

export const TARGET_FORMS =
  'latest | immediate | an ISO-8601 time with zone (2026-11-26T04:00:30Z) | lsn:0/3000060 | name:<restore point>'

/**
 * What is impossible about a calendar date and time as written (JavaScript's Date silently rolls
 * 2026-02-30 over to March 2); undefined when every field is in range.
 */
export function impossibleDate(text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(text)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1).map((x) => Number(x ?? 0)) as number[]
  if (month! < 1 || month! > 12) return `month ${m[2]} does not exist`
  const days = new Date(Date.UTC(year!, month!, 0)).getUTCDate()
  if (day! < 1 || day! > days) return `${m[1]}-${m[2]} has ${days} days`
  if (hour! > 23 || minute! > 59 || second! > 59) return `${m[4]}:${m[5]}${m[6] ? `:${m[6]}` : ''} is not a time of day`
  return undefined
}

export function parseTarget(raw: string | undefined): RecoveryTarget {
  if (raw === undefined || raw === '') throw inputError('--target', raw, 'is required', `pass one of: ${TARGET_FORMS}`)
  if (raw === 'latest' || raw === 'immediate') return { kind: raw }
  if (raw.startsWith('lsn:')) {
    const lsn = raw.slice(4)
    if (!LSN.test(lsn))
      throw inputError(
        '--target',
        raw,
        'is not an LSN (hex X/Y)',
        'e.g. --target lsn:0/3000060 (see the catalog for the valid range)',
      )
    return { kind: 'lsn', lsn: lsn.toUpperCase() }
  }
  if (raw.startsWith('name:')) {
    const name = raw.slice(5)
    if (!/^[A-Za-z0-9_.-]{1,63}$/.test(name))
      throw inputError(
        '--target',
        raw,
        'is not a restore point name (letters, digits, _ . -; at most 63)',
        'list them with catalog.ts',
      )
    return { kind: 'name', name }
  }
  if (!ISO.test(raw)) {
    const hint = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(raw)
      ? 'add a time zone (Z or +02:00): a time without one is ambiguous at 3 a.m.'
      : `use one of: ${TARGET_FORMS}`
    throw inputError('--target', raw, 'is not a recovery target', hint)
  }
  const at = Date.parse(raw.replace(' ', 'T').replace(/([+-]\d{2})(\d{2})$/, '$1:$2'))
  const impossible = impossibleDate(raw)
  if (!Number.isFinite(at) || impossible)
    throw inputError(
      '--target',
      raw,
      `is not a valid date${impossible ? ` (${impossible})` : ''}`,
      `use one of: ${TARGET_FORMS}`,
    )
  return { kind: 'time', at, text: raw }
}

export function describeTarget(t: RecoveryTarget): string {
  switch (t.kind) {
    case 'time':
      return `time ${new Date(t.at).toISOString()}`
    case 'lsn':
      return `LSN ${t.lsn}`
    case 'name':
      return `restore point "${t.name}"`
    default:
      return t.kind
  }
}

export function targetArgs(t: RecoveryTarget): string[] {
  switch (t.kind) {
    case 'latest':
      return ['--type=default']
    case 'immediate':
      return ['--type=immediate', '--target-action=promote']
    case 'time':
      return [
        '--type=time',
        `--target=${new Date(t.at).toISOString().replace('T', ' ').replace('Z', '+00')}`,
        '--target-action=promote',
      ]
    case 'lsn':
      return ['--type=lsn', `--target=${t.lsn}`, '--target-action=promote']
    case 'name':
      return ['--type=name', `--target=${t.name}`, '--target-action=promote']
  }
}
