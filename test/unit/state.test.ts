import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InputError } from '../../core/errors.ts'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { newSiteState, parseState, writeState } from '../../runbooks/lib/sites/local/state.ts'
import { cipherPassMissing } from '../../runbooks/lib/sites/local/secrets.ts'

const FILE = '/srv/site.json'
const good = () => newSiteState(25400, 0.05, new Date('2026-11-27T00:00:00Z'))
const problems = (text: string) => {
  try {
    parseState(text, FILE)
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return (e as Error).message
  }
  throw new Error('accepted')
}

describe('the site state file is validated like the policy', () => {
  it('accepts what a new site writes', () => {
    expect(parseState(JSON.stringify(good()), FILE)).toEqual(good())
  })

  it('a truncated file names itself and the way back', () => {
    const msg = problems(JSON.stringify(good()).slice(0, 40))
    expect(msg).toMatch(/invalid site state in \/srv\/site.json/)
    expect(msg).toMatch(/is not JSON/)
    expect(msg).toMatch(/site\.json\.prev/)
  })

  it('an unknown primary is refused (it used to write pg1-port=undefined), with every other problem at once', () => {
    const msg = problems(
      JSON.stringify({ ...good(), primary: 'node7', basePort: 80, roles: { ...good().roles, node3: 'cold' } }),
    )
    expect(msg).toMatch(/primary.*node7.*must be one of node1, node2, node3/)
    expect(msg).toMatch(/basePort.*80.*1024 to 32748/)
    expect(msg).toMatch(/roles\.node3.*cold.*must be one of primary, hot, warm, fenced/)
  })

  it('two primaries, or a primary field that disagrees with the roles, is refused', () => {
    expect(
      problems(JSON.stringify({ ...good(), roles: { node1: 'primary', node2: 'primary', node3: 'warm' } })),
    ).toMatch(/exactly one node must have the role primary/)
    expect(problems(JSON.stringify({ ...good(), primary: 'node2' }))).toMatch(
      /exactly one node must have the role primary, and it must be primary \(node2\)/,
    )
  })

  it('writes atomically, keeps the previous version, and never writes a state it would refuse to read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labdojo-state-'))
    const l = layout(dir, 25400, dir)
    writeState(l, good())
    writeState(l, { ...good(), timeline: 2 })
    expect(JSON.parse(readFileSync(`${l.siteFile}.prev`, 'utf8')).timeline).toBeUndefined()
    expect(JSON.parse(readFileSync(l.siteFile, 'utf8')).timeline).toBe(2)
    expect(() => writeState(l, { ...good(), primary: 'node7' as 'node1' })).toThrow(InputError)
    expect(JSON.parse(readFileSync(l.siteFile, 'utf8')).timeline).toBe(2)
    expect(existsSync(`${l.siteFile}.tmp`)).toBe(false)
  })
})

describe('the state mid-failover', () => {
  it('accepts the old primary fenced with no new one promoted yet (a failover under way)', () => {
    const s = { ...good(), roles: { node1: 'fenced', node2: 'hot', node3: 'warm' } }
    expect(parseState(JSON.stringify(s), FILE).roles.node1).toBe('fenced')
  })
})

describe('the secrets file and its environment overrides', () => {
  const dir = mkdtempSync(join(tmpdir(), 'labdojo-secrets-'))
  const l = layout(dir, 25400, dir)
  it('without the file, the pass alone is not enough: pgBackRest also needs the S3 keys', () => {
    expect(cipherPassMissing(l, {})).toMatch(/pgbackrest-secrets.conf does not exist$/)
    expect(cipherPassMissing(l, { PGBACKREST_REPO2_CIPHER_PASS: 'x' })).toMatch(
      /does not exist and PGBACKREST_REPO2_S3_KEY, PGBACKREST_REPO2_S3_KEY_SECRET are not set/,
    )
    expect(
      cipherPassMissing(l, {
        PGBACKREST_REPO2_CIPHER_PASS: 'x',
        PGBACKREST_REPO2_S3_KEY: 'k',
        PGBACKREST_REPO2_S3_KEY_SECRET: 's',
      }),
    ).toBeUndefined()
  })
})
