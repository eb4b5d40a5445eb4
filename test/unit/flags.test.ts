import { describe, expect, it } from 'vitest'
import { InputError } from '../../core/errors.ts'
import { parseFlags } from '../../runbooks/lib/cli/frame.ts'

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
