/** The report's metrics from recorded facts, and the page: self-contained, escaped. */
import { describe, expect, it } from 'vitest'
import {
  backupSuccessRate,
  integrityScore,
  monthOf,
  proofStatus,
  recoveryTimeAchieved,
  storageGrowth,
} from '../../core/report.ts'
import type { CatalogBackup } from '../../core/recovery.ts'
import { renderReportHtml, type ReportData } from '../../runbooks/lib/output/report-html.ts'
import { backupOutcomes } from '../../runbooks/lib/ops/report/report.ts'

const month = monthOf('2026-11', new Date())
const at = (d: string) => Date.parse(`2026-11-${d}T10:00:00Z`)
const backup = (label: string, stop: number, size: number, repo = 1): CatalogBackup => ({
  label,
  type: 'full',
  repo,
  start: stop - 1000,
  stop,
  lsnStart: '0/1',
  lsnStop: '0/2',
  size,
  repoSize: size,
  error: false,
})

describe('report metrics', () => {
  it('backup success rate counts the audit log outcomes of the month only', () => {
    const outcomes = [
      ...Array.from({ length: 99 }, (_, i) => ({ at: at('10') + i, type: 'incr', ok: true })),
      { at: at('11'), type: 'full', ok: false },
      { at: Date.parse('2026-10-30T00:00:00Z'), type: 'full', ok: false },
    ]
    expect(backupSuccessRate(outcomes, month)).toMatchObject({ value: 99, ok: false })
    expect(backupSuccessRate(outcomes.slice(0, 99), month)).toMatchObject({ value: 100, ok: true })
    expect(backupSuccessRate([], month)).toMatchObject({ value: null, ok: null })
  })

  it('reads backup outcomes from the audit actions of backup.ts and the drill', () => {
    const e = (action: string, result: string) => ({ ts: '2026-11-10T00:00:00Z', action, result }) as never
    expect(
      backupOutcomes([
        e('backup incr', 'ok'),
        e('backup full', 'failed'),
        e('drill: full backup', 'ok'),
        e('backup full', 'start'),
        e('catalog', 'ok'),
      ]).map((o) => [o.type, o.ok]),
    ).toEqual([
      ['incr', true],
      ['full', false],
      ['full', true],
    ])
  })

  it('recovery time is the worst measured; integrity is proven over all proofs', () => {
    const proofs = [
      { at: at('02'), backup: 'a', repo: 1, verdict: 'proven', rtoSeconds: 12 },
      { at: at('03'), backup: 'b', repo: 2, verdict: 'failed', rtoSeconds: null },
    ]
    const drills = [{ at: at('04'), level: 'monthly', verdict: 'passed', worstRtoSeconds: 30 }]
    expect(recoveryTimeAchieved(proofs, drills, month, 3600)).toMatchObject({ value: 30, ok: true })
    expect(recoveryTimeAchieved(proofs, drills, month, 20)).toMatchObject({ ok: false })
    expect(integrityScore(proofs, month)).toMatchObject({ value: 50, ok: false })
    expect(integrityScore(proofs.slice(0, 1), month)).toMatchObject({ value: 100, ok: true })
  })

  it('storage growth needs a month of history and alerts above 20%', () => {
    const old = backup('old', Date.parse('2026-10-01T00:00:00Z'), 1000)
    expect(storageGrowth([old, backup('new', at('20'), 100)], month)).toMatchObject({ value: 10, ok: true })
    expect(storageGrowth([old, backup('new', at('20'), 300)], month)).toMatchObject({ value: 30, ok: false })
    expect(storageGrowth([backup('new', at('20'), 300)], month)).toMatchObject({ value: null, ok: null })
  })

  it("each backup's proof status is its newest proof", () => {
    const b = [backup('x', at('01'), 1), backup('y', at('01'), 1)]
    const p = [
      { at: at('02'), backup: 'x', repo: 1, verdict: 'failed', rtoSeconds: null },
      { at: at('03'), backup: 'x', repo: 1, verdict: 'proven', rtoSeconds: 1 },
    ]
    expect(proofStatus(b, p).map((r) => r.proof)).toEqual(['proven', 'unproven'])
  })
})

describe('report page', () => {
  const data: ReportData = {
    site: '/s',
    month: '2026-11',
    generatedAt: '2026-11-30T00:00:00.000Z',
    metrics: [backupSuccessRate([], month)],
    timeline: [{ at: at('05'), kind: 'proof', ok: false, label: '<script>alert(1)</script>' }],
    backups: [],
    recoverable: [],
    compliance: [{ item: 'x', status: 'due', detail: '"quoted" & <b>' }],
  }
  it('is self-contained: no script, no external reference, a CSP that forbids fetches; text is escaped', () => {
    const html = renderReportHtml(data)
    expect(html).not.toMatch(/<script|src=|href=|@import|url\(/i)
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/)
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain('&quot;quoted&quot; &amp; &lt;b&gt;')
    expect(html).toMatch(/<svg[^>]+role="img"/)
  })
})
