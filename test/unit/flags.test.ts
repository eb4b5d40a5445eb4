import { describe, expect, it } from 'vitest'
import { InputError } from '../../core/errors.ts'
import { parseFlags } from '../../runbooks/lib/cli/frame.ts'
import {
  parseBasePort,
  parseLevel,
  parseMonth,
  parsePort,
  parseRepo,
  parseScale,
  parseStandbyRole,
} from '../../runbooks/lib/cli/flags.ts'
import { parseUserId } from '../../runbooks/lib/ops/erasure/erasure.ts'

const spec = {
  name: 'x.ts',
  summary: 'test',
  usage: 'x.ts',
  flags: {
    target: { type: 'string', help: 't' },
    yes: { type: 'boolean', help: 'y' },
    path: { type: 'string', help: 'p', multiple: true },
  },
} as const

describe('flag parsing', () => {
  it('takes each flag once', () => {
    expect(parseFlags(spec, ['--target', 'latest', '--yes']).flags).toMatchObject({ target: 'latest', yes: true })
  })

  it.each([
    [['--target', 'latest', '--target', 'immediate'], /--target.*latest and immediate.*more than once/],
    [['--target=latest', '--target=immediate'], /--target.*more than once/],
    [['--yes', '--yes'], /--yes.*more than once/],
  ])('refuses a repeated flag instead of silently taking the last: %j', (args, message) => {
    expect(() => parseFlags(spec, args)).toThrow(InputError)
    expect(() => parseFlags(spec, args)).toThrow(message)
  })

  it('a flag that takes a list may repeat', () => {
    expect(parseFlags(spec, ['--path', 'a', '--path', 'b']).flags.path).toEqual(['a', 'b'])
  })
})

describe('the new flag parsers: bad input names the flag and the valid values', () => {
  const refuses = (fn: () => unknown, message: RegExp) => {
    expect(fn).toThrow(InputError)
    expect(fn).toThrow(message)
  }
  it('--level: monthly by default, one of the three levels', () => {
    expect(parseLevel(undefined)).toBe('monthly')
    expect(parseLevel('annual')).toBe('annual')
    refuses(() => parseLevel('weekly'), /--level.*monthly, quarterly, annual/)
  })
  it('--month: YYYY-MM with a real month', () => {
    expect(parseMonth('2026-11')).toBe('2026-11')
    expect(parseMonth(undefined)).toBeUndefined()
    for (const bad of ['2026-13', '2026-1', 'november', '1999-05']) refuses(() => parseMonth(bad), /--month.*YYYY-MM/)
  })
  it('--as: hot (default) or warm', () => {
    expect(parseStandbyRole(undefined)).toBe('hot')
    expect(parseStandbyRole('warm')).toBe('warm')
    refuses(() => parseStandbyRole('cold'), /--as.*hot or warm/)
  })
})

describe('numbers are decimal digits only (0x1, " 1", 1e1, 28015.0 and -5 are refused with the range)', () => {
  it.each([
    ['--repo', (v: string) => parseRepo(v, [1, 2]), ['0x1', ' 1', '1 ', '1e0', '01.0', '+1', '-1']],
    ['--port', (v: string) => parsePort(v, 28015), ['0x6D6A', '28015.0', '2.8015e4', ' 28015', '-5']],
    ['--base-port', (v: string) => parseBasePort(v), ['0x6D6A', '28000.0', '-28000']],
    ['--user', (v: string) => parseUserId(v), ['0x10', '1e1', '16.0', ' 16', '-16']],
    ['--scale', (v: string) => parseScale(v, 1), ['0x1', '1e-1', '0.5.1', '-1']],
  ])('%s', (flag, parse, values) => {
    for (const v of values) {
      expect(() => parse(v), `${flag} ${JSON.stringify(v)}`).toThrow(InputError)
      expect(() => parse(v)).toThrow(new RegExp(`${flag}`))
    }
  })
  it('decimal values still parse', () => {
    expect(parseRepo('2', [1, 2])).toBe(2)
    expect(parsePort('28015', 1)).toBe(28015)
    expect(parseUserId('16')).toBe(16)
    expect(parseScale('0.5', 1)).toBe(0.5)
  })
  it('a negative number after a value flag reaches the flag\'s own check, not the parser\'s "ambiguous"', () => {
    const s = { name: 'x.ts', summary: 't', usage: 'x', flags: { port: { type: 'string', help: 'p' } } } as const
    const flags = parseFlags(s, ['--port', '-5']).flags
    expect(flags.port).toBe('-5')
    expect(() => parsePort(flags.port, 28015)).toThrow(/--port.*must be a port from 1024 to 65535/)
  })
})
