/** The password-file reader the adapters log in with (libpq's format), and the SCRAM verifier ALTER ROLE receives. */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { passwordFor, scramVerifier } from '../../runbooks/lib/adapters/postgres.ts'

const file = (text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'pgpass-')), 'pgpass')
  writeFileSync(f, text, { mode: 0o600 })
  return f
}

describe('passwordFor', () => {
  it('takes the first matching line, * matching anything', () => {
    const passfile = file('# comment\n127.0.0.1:5433:*:postgres:first\n*:*:*:postgres:second\n*:*:*:other:third\n')
    expect(passwordFor({ host: '127.0.0.1', port: 5433, passfile })).toBe('first')
    expect(passwordFor({ host: '127.0.0.1', port: 5434, database: 'labdojo', passfile })).toBe('second')
    expect(passwordFor({ host: '127.0.0.1', port: 5434, user: 'other', passfile })).toBe('third')
    expect(passwordFor({ host: '127.0.0.1', port: 5434, user: 'nobody', passfile })).toBeUndefined()
  })

  it('reads escaped colons and backslashes, and says nothing without a file', () => {
    const passfile = file('*:*:*:postgres:a\\:b\\\\c\n')
    expect(passwordFor({ host: 'h', port: 1, passfile })).toBe('a:b\\c')
    expect(passwordFor({ host: 'h', port: 1, passfile: '/nonexistent/pgpass' })).toBeUndefined()
  })
})

describe('scramVerifier', () => {
  it("has PostgreSQL's stored form, a fresh salt each time, and never the password", () => {
    const v = scramVerifier('pencil')
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/)
    expect(scramVerifier('pencil')).not.toBe(v)
    expect(v).not.toContain('pencil')
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64')
    expect(scramVerifier('pencil', salt)).toBe(scramVerifier('pencil', salt))
  })
})
