/**
 * The report as one self-contained HTML page: inline CSS, charts as inline SVG, no script, no
 * external fetch (a Content-Security-Policy forbids any). Pure: data in, text out.
 */
import type { Metric, ProofStatus } from '../../../core/report.ts'
import type { CatalogBackup } from '../../../core/recovery.ts'
import { formatBytes, formatDuration } from '../../../core/duration.ts'

export interface TimelineEvent {
  at: number
  kind: 'backup' | 'proof' | 'drill' | 'failover' | 'restore'
  ok: boolean
  label: string
}

export interface ComplianceRow {
  item: string
  status: 'met' | 'not met' | 'configured' | 'due' | 'info'
  detail: string
}

export interface ReportData {
  site: string
  month: string
  generatedAt: string
  metrics: Metric[]
  timeline: TimelineEvent[]
  backups: (CatalogBackup & { proof: ProofStatus })[]
  recoverable: { where: string; latest: string | null; earliest: string | null; gaps: number }[]
  compliance: ComplianceRow[]
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

function metricValue(m: Metric): string {
  if (m.value === null) return 'no data'
  return m.unit === 's' ? formatDuration(m.value) : `${m.value}%`
}

const verdictClass = (ok: boolean | null) => (ok === null ? 'none' : ok ? 'ok' : 'bad')

function metricCard(m: Metric): string {
  return `<div class="card ${verdictClass(m.ok)}" data-metric="${esc(m.name)}">
  <div class="name">${esc(m.name)}</div>
  <div class="value">${esc(metricValue(m))}</div>
  <div class="target">target ${esc(m.target)} &middot; ${m.ok === null ? 'not measured' : m.ok ? 'met' : 'MISSED'}</div>
  <div class="basis">${esc(m.basis)}</div>
</div>`
}

const LANES: TimelineEvent['kind'][] = ['backup', 'proof', 'drill', 'failover', 'restore']

/** One lane per kind of event on a shared time axis; a red dot is a failure. */
export function timelineSvg(events: TimelineEvent[], from: number, to: number): string {
  const w = 900
  const left = 80
  const laneH = 26
  const h = LANES.length * laneH + 30
  const x = (t: number) => left + ((Math.min(Math.max(t, from), to) - from) / Math.max(1, to - from)) * (w - left - 10)
  const lanes = LANES.map(
    (k, i) =>
      `<text x="4" y="${i * laneH + 20}" class="lane">${k}</text><line x1="${left}" x2="${w - 10}" y1="${i * laneH + 16}" y2="${i * laneH + 16}" class="axis"/>`,
  ).join('')
  const dots = events
    .map((e) => {
      const y = LANES.indexOf(e.kind) * laneH + 16
      return `<circle cx="${x(e.at).toFixed(1)}" cy="${y}" r="5" class="${e.ok ? 'ok' : 'bad'}"><title>${esc(`${new Date(e.at).toISOString()} ${e.label}`)}</title></circle>`
    })
    .join('')
  const ticks = [from, (from + to) / 2, to]
    .map(
      (t, i) =>
        `<text x="${x(t).toFixed(1)}" y="${h - 4}" class="tick" text-anchor="${['start', 'middle', 'end'][i]}">${new Date(t).toISOString().slice(0, 16).replace('T', ' ')}</text>`,
    )
    .join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="timeline of backups, proofs and drills">${lanes}${dots}${ticks}</svg>`
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`
}

const iso = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19)

export function renderReportHtml(d: ReportData): string {
  const times = d.timeline.map((e) => e.at)
  const from = Math.min(...times, Date.parse(d.generatedAt))
  const to = Math.max(...times, Date.parse(d.generatedAt))
  const backups = table(
    ['label', 'repo', 'type', 'finished', 'size', 'stored', 'proof'],
    d.backups.map((b) => [
      esc(b.label),
      String(b.repo),
      b.type,
      iso(b.stop),
      formatBytes(b.size),
      formatBytes(b.repoSize ?? b.size),
      `<span class="${b.proof === 'proven' ? 'ok' : b.proof === 'failed' ? 'bad' : 'none'}">${b.proof}</span>`,
    ]),
  )
  const recoverable = table(
    ['repo / site', 'earliest recoverable', 'latest recoverable', 'WAL gaps'],
    d.recoverable.map((r) => [esc(r.where), esc(r.earliest ?? 'none'), esc(r.latest ?? 'none'), String(r.gaps)]),
  )
  const compliance = table(
    ['item', 'status', 'detail'],
    d.compliance.map((c) => [
      esc(c.item),
      `<span class="${c.status === 'met' || c.status === 'configured' ? 'ok' : c.status === 'info' ? 'none' : 'bad'}">${c.status}</span>`,
      esc(c.detail),
    ]),
  )
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>LabDojo DR report ${esc(d.month)} (${esc(d.site)})</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.sub{color:#667}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #dde;border-left:6px solid #999;padding:10px 14px;min-width:190px;flex:1}
.card.ok{border-left-color:#2a7}.card.bad{border-left-color:#c33}.card .name{color:#556}
.card .value{font-size:26px;font-weight:600}.card .basis,.card .target{font-size:12px;color:#667}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef}
span.ok{color:#1a6}span.bad{color:#c22;font-weight:600}span.none{color:#888}
svg .axis{stroke:#ccd}svg .lane,svg .tick{font-size:11px;fill:#556}svg circle.ok{fill:#2a7}svg circle.bad{fill:#c33}
</style></head><body>
<h1>LabDojo disaster recovery report: ${esc(d.month)}</h1>
<div class="sub">site ${esc(d.site)} &middot; generated ${esc(d.generatedAt)} from the audit log, the evidence ledger and the catalog</div>
<h2>Dashboard</h2>
<div class="cards">${d.metrics.map(metricCard).join('\n')}</div>
<h2>Timeline</h2>
${timelineSvg(d.timeline, from, to)}
<h2>Backups and their proofs</h2>
${backups}
<h2>Latest recoverable point</h2>
${recoverable}
<h2>Compliance</h2>
${compliance}
</body></html>
`
}
