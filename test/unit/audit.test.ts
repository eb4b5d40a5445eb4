import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuditLog, verifyAuditChain } from '../../runbooks/lib/output/audit.ts'

const made: string[] = []
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })))
const logFile = () => {
  made.push(mkdtempSync(join(tmpdir(), 'labdojo-audit-')))
  return join(made.at(-1)!, 'audit.log')
}

function logWith(n: number): string {
  const file = logFile()
  const a = new AuditLog(file, 'test.ts', 'local')
  for (let i = 0; i < n; i++) a.record(`step ${i}`, i % 3 === 0 ? 'failed' : 'ok')
  return file
}
const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n')

describe('the audit log is hash-chained', () => {
  it('an untouched log verifies', () => {
    expect(verifyAuditChain(logWith(6))).toMatchObject({ ok: true, entries: 6, unchained: 0 })
  })

  it("rewriting a 'failed' entry to 'ok' (the sed of the reproduction) is found, at the line after it", () => {
    const file = logWith(6)
    writeFileSync(file, readFileSync(file, 'utf8').replace('"result":"failed"', '"result":"ok"'))
    expect(verifyAuditChain(file)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^line 2 does not follow line 1/),
    })
  })

  it('a removed or a reordered entry is found', () => {
    const removed = logWith(6)
    const l = lines(removed)
    writeFileSync(removed, [...l.slice(0, 2), ...l.slice(3)].join('\n') + '\n')
    expect(verifyAuditChain(removed).problem).toMatch(/^line 3 does not follow line 2/)
    const reordered = logWith(6)
    const r = lines(reordered)
    writeFileSync(reordered, [r[0], r[2], r[1], ...r.slice(3)].join('\n') + '\n')
    expect(verifyAuditChain(reordered).ok).toBe(false)
  })

  it('entries written before the chain existed are counted apart, and the chain continues from them', () => {
    const file = logFile()
    writeFileSync(file, JSON.stringify({ ts: 'x', action: 'legacy', result: 'ok' }) + '\n')
    new AuditLog(file, 'test.ts', 'local').record('new', 'ok')
    expect(verifyAuditChain(file)).toMatchObject({ ok: true, entries: 2, unchained: 1 })
  })
})
