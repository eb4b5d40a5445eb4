import { describe, expect, it } from 'vitest'
import { InputError } from '../../core/errors.ts'
import { parseFlags } from '../../runbooks/lib/cli/frame.ts'
import { parseLevel, parseMonth, parseStandbyRole } from '../../runbooks/lib/cli/flags.ts'

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
