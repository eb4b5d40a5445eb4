/**
 * report.ts's procedure: read what was recorded (audit log, evidence ledger, catalog, secret
 * files' dates, sign-offs), compute the month's metrics (core/report.ts), and write the HTML
 * page and its JSON side by side.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { formatDuration } from '../../../../core/duration.ts'
import { inputError } from '../../../../core/errors.ts'
import { fullsRetained, offsiteRetentionDays } from '../../../../core/policy.ts'
import { cronPeriodSeconds } from '../../../../core/cron.ts'
import {
  backupSuccessRate,
  integrityScore,
  monthOf,
  proofStatus,
  recoveryTimeAchieved,
  storageGrowth,
  type BackupOutcome,
  type DrillEvidence,
  type ProofEvidence,
} from '../../../../core/report.ts'
import type { AuditEntry } from '../../output/audit.ts'
import { readEvidence, type EvidenceRecord } from '../../output/evidence.ts'
import { renderReportHtml, type ComplianceRow, type ReportData, type TimelineEvent } from '../../output/report-html.ts'
import { buildCatalog, type CatalogReport } from '../catalog/report.ts'
import { signoffStatus } from '../evidence/ledger.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface ReportFiles {
  html: string
  json: string
  data: ReportData
}

const BACKUP_ACTION = /^(?:drill: )?(?:backup (full|diff|incr|logical)|(full) backup)$/

export function auditEntries(file: string): AuditEntry[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as AuditEntry]
      } catch {
        return []
      }
    })
}

export function backupOutcomes(entries: AuditEntry[]): BackupOutcome[] {
  return entries.flatMap((e) => {
    const m = BACKUP_ACTION.exec(e.action)
    if (!m || (e.result !== 'ok' && e.result !== 'failed')) return []
    return [{ at: Date.parse(e.ts), type: m[1] ?? m[2]!, ok: e.result === 'ok' }]
  })
}

function proofsOf(ledger: EvidenceRecord[]): ProofEvidence[] {
  return ledger
    .filter((r) => r.kind === 'proof')
    .map((r) => ({
      at: Date.parse(r.at),
      backup: String(r.backup),
      repo: Number(r.repo),
      verdict: String(r.verdict),
      rtoSeconds: (r.objectives as { rtoSeconds?: number | null } | undefined)?.rtoSeconds ?? null,
    }))
}

function drillsOf(ledger: EvidenceRecord[]): DrillEvidence[] {
  return ledger
    .filter((r) => r.kind === 'drill')
    .map((r) => {
      const rtos = ((r.objectives as { worstRtoSeconds: number | null }[] | undefined) ?? [])
        .map((o) => o.worstRtoSeconds)
        .filter((v): v is number => typeof v === 'number')
      return {
        at: Date.parse(r.at),
        level: String(r.level),
        verdict: String(r.verdict),
        worstRtoSeconds: rtos.length ? Math.max(...rtos) : null,
      }
    })
}

function timeline(catalog: CatalogReport, outcomes: BackupOutcome[], ledger: EvidenceRecord[]): TimelineEvent[] {
  return [
    ...catalog.repos.flatMap((r) =>
      r.backups.map((b) => ({ at: b.stop, kind: 'backup' as const, ok: !b.error, label: `repo${r.repo} ${b.label}` })),
    ),
    ...outcomes
      .filter((o) => !o.ok)
      .map((o) => ({ at: o.at, kind: 'backup' as const, ok: false, label: `${o.type} backup failed` })),
    ...ledger
      .filter((r) => r.kind === 'proof' || r.kind === 'drill' || r.kind === 'failover' || r.kind === 'restore')
      .map((r) => ({
        at: Date.parse(r.at),
        kind: r.kind as TimelineEvent['kind'],
        ok: r.verdict === 'proven' || r.verdict === 'passed' || r.verdict === 'ok',
        label: r.kind === 'proof' ? `proof of ${r.backup} (repo${r.repo}): ${r.verdict}` : `${r.kind}: ${r.verdict}`,
      })),
  ].sort((a, b) => a.at - b.at)
}

const isoDay = (t: number) => new Date(t).toISOString().slice(0, 10)

function compliance(site: LocalSitePort, catalog: CatalogReport, now: number): ComplianceRow[] {
  return [...retentionRows(site, catalog, now), ...protectionRows(site, catalog, now), ...signoffRows(site, now)]
}

/** Per tier: which repo's retention covers it (configured), and how old each repo's oldest backup is (observed). */
function retentionRows(site: LocalSitePort, catalog: CatalogReport, now: number): ComplianceRow[] {
  const p = site.policy
  const keptSeconds: Record<number, number> = {
    1: fullsRetained(p) * cronPeriodSeconds(p.schedules.full.cron),
    2: offsiteRetentionDays(p) * 86400,
  }
  const rows: ComplianceRow[] = []
  for (const id of [1, 2, 3] as const) {
    const t = p.tiers[id]
    const covering = Object.entries(keptSeconds).filter(([, s]) => s >= t.retention)
    const oldest = catalog.repos.map((r) => {
      const first = r.backups.filter((b) => !b.error)[0]
      return `repo${r.repo} oldest backup ${first ? `${formatDuration((now - first.stop) / 1000)} old` : 'none'}`
    })
    rows.push({
      item: `retention, tier ${id} (${t.name}): ${formatDuration(t.retention)}`,
      status: covering.length ? 'configured' : 'not met',
      detail: `${
        covering.length
          ? `kept by ${covering.map(([r, s]) => `repo${r} (${formatDuration(s)})`).join(', ')}`
          : `no repo keeps backups that long (${Object.entries(keptSeconds)
              .map(([r, s]) => `repo${r} ${formatDuration(s)}`)
              .join(', ')})`
      }; ${oldest.join(', ')}`,
    })
  }
  return rows
}

/** Encryption per repo, the offsite copy, and when each key was last set. */
function protectionRows(site: LocalSitePort, catalog: CatalogReport, now: number): ComplianceRow[] {
  const p = site.policy
  const rows: ComplianceRow[] = []
  for (const r of site.inventory().pgbackrest.repos)
    rows.push({
      item: `encryption, repo${r.index} (${r.type}, ${r.site} site)`,
      status: r.encrypted ? 'met' : 'not met',
      detail: r.encrypted
        ? 'pgBackRest aes-256-cbc, cipher pass kept outside the repo (0600)'
        : 'not encrypted: local disk of this host, protected by file modes only',
    })
  const newest = (repo: number) =>
    catalog.repos
      .find((r) => r.repo === repo)
      ?.backups.filter((b) => !b.error)
      .at(-1) ?? null
  const [n1, n2] = [newest(1), newest(2)]
  rows.push({
    item: 'offsite copy (repo2)',
    status: n2 && (!n1 || n1.stop - n2.stop <= cronPeriodSeconds(p.schedules.full.cron) * 1000) ? 'met' : 'not met',
    detail: `newest backup repo1 ${n1 ? `${n1.label}` : 'none'}, repo2 ${n2 ? `${n2.label}` : 'none'}; latest recoverable repo2 ${catalog.repos.find((r) => r.repo === 2)?.latestTime ?? 'none'}`,
  })
  for (const [what, file] of [
    ['repo2 cipher pass', site.layout.secrets.pgbackrest],
    ['database password', site.layout.secrets.pgpass],
  ] as const)
    rows.push({
      item: `key rotation: ${what}`,
      status: 'info',
      detail: existsSync(file)
        ? `last set ${isoDay(statSync(file).mtimeMs)} (${formatDuration((now - statSync(file).mtimeMs) / 1000)} ago)`
        : 'file missing',
    })
  return rows
}

function signoffRows(site: LocalSitePort, now: number): ComplianceRow[] {
  return signoffStatus(site, new Date(now)).map((d): ComplianceRow => ({
    item: `sign-off: ${d.what} (${d.every})`,
    status: d.overdue ? 'due' : 'met',
    detail: d.last
      ? `last signed ${isoDay(Date.parse(d.last.at))} by ${d.last.by}; next due ${d.due?.slice(0, 10)}`
      : 'never signed: evidence.ts sign --item ' + d.item + ' --by NAME',
  }))
}

export async function buildReport(site: LocalSitePort, o: { month?: string; auditFile: string }): Promise<ReportData> {
  const now = Date.now()
  const month = monthOf(o.month, new Date(now))
  const catalog = await buildCatalog(site)
  const ledger = readEvidence(site.layout.evidenceFile)
  const outcomes = backupOutcomes(auditEntries(o.auditFile))
  const proofs = proofsOf(ledger)
  const allBackups = catalog.repos.flatMap((r) => r.backups)
  return {
    site: site.layout.stateDir,
    month: month.label,
    generatedAt: new Date(now).toISOString(),
    metrics: [
      backupSuccessRate(outcomes, month),
      recoveryTimeAchieved(proofs, drillsOf(ledger), month, site.policy.tiers[1].rto),
      storageGrowth(allBackups, month),
      integrityScore(proofs, month),
    ],
    timeline: timeline(catalog, outcomes, ledger).filter((e) => e.at >= month.from && e.at < month.to),
    backups: proofStatus(allBackups, proofs),
    recoverable: catalog.repos.map((r) => ({
      where: `repo${r.repo} (${r.repo === 2 ? 'offsite: cold site' : 'local: primary, hot, warm'})`,
      earliest: r.earliestTime,
      latest: r.latestTime,
      gaps: r.gaps?.length ?? 0,
    })),
    compliance: compliance(site, catalog, now),
  }
}

export async function writeReport(
  site: LocalSitePort,
  o: { month?: string; out?: string; auditFile: string },
): Promise<ReportFiles> {
  const reports = join(site.layout.stateDir, 'reports')
  const clash =
    o.out === undefined
      ? undefined
      : site.guardedPathClash(o.out, [reports, 'its reports folder'], { areaItself: true })
  if (clash) throw inputError('--out', o.out, clash, `pass a directory of its own, e.g. --out ${reports} (the default)`)
  const data = await buildReport(site, o)
  const dir = resolve(o.out ?? reports)
  mkdirSync(dir, { recursive: true })
  const html = join(dir, `dr-report-${data.month}.html`)
  const json = join(dir, `dr-report-${data.month}.json`)
  writeFileSync(html, renderReportHtml(data))
  writeFileSync(json, JSON.stringify(data, null, 2) + '\n')
  return { html, json, data }
}
