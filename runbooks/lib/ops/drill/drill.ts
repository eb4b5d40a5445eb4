/**
 * The drill's procedure at the guide's levels (core/drill.ts says what each runs): each step
 * timed and audited; the verdict per measure and per objective comes from core/drill.ts; the
 * run is one record in the evidence ledger.
 */
import type { AuditLog } from '../../output/audit.ts'
import {
  drillPlan,
  drillVerdict,
  type DrillLevel,
  type DrillPlan,
  type ObjectiveVerdict,
  type RecoveryMeasure,
  type StepResult,
} from '../../../../core/drill.ts'
import { formatDuration } from '../../../../core/duration.ts'
import { reposFor } from '../../../../core/backup-policy.ts'
import type { SignoffDue } from '../../../../core/signoffs.ts'
import type { Webhook } from '../../adapters/notify.ts'
import { physicalBackup } from '../backup/backup.ts'
import { pitrDrill } from './pitr-drill.ts'
import { failoverDrill } from './failover-drill.ts'
import { warmRoundTrip } from './warm-drill.ts'
import { commsDrill } from './comms-drill.ts'
import { coldRebuild } from './cold-drill.ts'
import { readCatalogs, selectBackups, verifyBackups } from '../verify/verify.ts'
import { recordEvidence, signoffStatus } from '../evidence/ledger.ts'
import { log } from '../../output/log.ts'
import type { EvidenceRecord } from '../../output/evidence.ts'
import { type LocalSitePort, type SiteStatus } from '../../sites/local-port.ts'

export interface DrillOptions {
  level: DrillLevel
  scale: number
  rate: number
  failover: boolean
  keep: boolean
  /** the communication plan's webhooks (validated before the drill starts) */
  hooks: Webhook[]
  /** the annual level's compliance report: written here, returns where */
  writeReport?: () => Promise<string>
  onHealth?: (s: SiteStatus) => void
}

export interface DrillReport {
  level: DrillLevel
  ok: boolean
  objectives: ObjectiveVerdict[]
  signoffs: SignoffDue[]
  steps: StepResult[]
  measures: RecoveryMeasure[]
  details: Record<string, unknown>
  verdict: string[]
  text: string
}

/** One drill run: each step timed, audited and recorded. */
class DrillRun {
  readonly steps: StepResult[] = []
  readonly measures: RecoveryMeasure[] = []
  readonly details: Record<string, unknown> = {}

  constructor(private readonly audit: AuditLog) {}

  async step<T>(name: string, fn: () => Promise<T>, describe: (v: T) => string): Promise<T> {
    log.info(`== ${name}`)
    const t0 = Date.now()
    try {
      const v = await this.audit.step(`drill: ${name}`, fn)
      this.steps.push({ name, seconds: (Date.now() - t0) / 1000, ok: true, detail: describe(v) })
      log.info(`   ${describe(v)} (${formatDuration((Date.now() - t0) / 1000)})`)
      return v
    } catch (e) {
      this.steps.push({ name, seconds: (Date.now() - t0) / 1000, ok: false, detail: (e as Error).message })
      throw e
    }
  }

  /** A step that recovers something: its details kept under `key`, its measure judged against the objectives. */
  async measured<T extends { measure: RecoveryMeasure }>(
    key: string,
    name: string,
    fn: () => Promise<T>,
    describe: (v: T) => string,
  ): Promise<void> {
    const v = await this.step(name, fn, describe)
    this.details[key] = v
    this.measures.push(v.measure)
  }
}

export async function runDrill(site: LocalSitePort, audit: AuditLog, o: DrillOptions): Promise<DrillReport> {
  const plan = drillPlan(site.policy, o.level)
  const drill = new DrillRun(audit)
  const withFailovers = (s: 'hot' | 'warm') => o.failover && plan.sites.includes(s)
  let writer: string | undefined
  try {
    await bringUpHealthy(site, drill, o)
    await fullBackup(site, drill)
    if (site.workload.running()) await site.workload.stop()
    writer = await drill.step(
      'start the workload',
      () => site.workload.start(o.rate),
      (id) => `writer ${id} at ${o.rate} commits/s through the endpoint`,
    )
    // under load: the reference then holds recent commits, and each proof measures its data-loss gap
    // quarterly and annual drills also look every heap row up in every index (slower, rarer)
    await proveNewestBackups(site, drill, audit, plan.level !== 'monthly')
    await humanErrorAndPitr(site, drill, audit, writer, o.keep)
    if (withFailovers('hot')) await failoverUnderLoad(site, drill, audit, writer)
    if (withFailovers('warm')) await warmAndBack(site, drill, audit, writer)
    await site.workload.stop()
    writer = undefined
    if (plan.communication) await communicationPlan(site, drill, o.hooks)
    if (plan.sites.includes('cold')) await coldSite(site, drill, audit, o.keep)
    if (plan.compliance && o.writeReport)
      drill.details.report = await drill.step('compliance report', o.writeReport, (f) => `written to ${f}`)
  } catch (e) {
    drill.details.error = (e as Error).message
  } finally {
    if (writer) await site.workload.stop()
  }
  const report = drillReport(site, drill, plan)
  drill.details.ledger = await recordEvidence(site, drillRecord(report))
  return report
}

async function bringUpHealthy(site: LocalSitePort, drill: DrillRun, o: DrillOptions): Promise<void> {
  drill.details.upChanges = await drill.step(
    'bring the local site up',
    () => site.up({ scale: o.scale }),
    (c) => (c.length ? `${c.length} change(s)` : 'already healthy'),
  )
  const health = await drill.step(
    'check health',
    () => site.status(),
    (s) =>
      s.healthy ? 'primary, hot, warm, both repos and the endpoint healthy' : `UNHEALTHY: ${s.problems.join('; ')}`,
  )
  o.onHealth?.(health)
  if (!health.healthy) throw new Error(`the site is not healthy: ${health.problems.join('; ')}`)
}

async function fullBackup(site: LocalSitePort, drill: DrillRun): Promise<void> {
  const repos = reposFor(site.policy, 'full', undefined, [1, 2])
  drill.details.backups = await drill.step(
    'full backup',
    () => physicalBackup(site, 'full', repos),
    (b) => b.map((r) => `repo${r.repo} ${r.label} in ${formatDuration(r.durationSeconds)}`).join(', '),
  )
}

/** Integrity: the newest backup of every repo proven equal to the warm standby at an exact LSN. */
async function proveNewestBackups(
  site: LocalSitePort,
  drill: DrillRun,
  audit: AuditLog,
  heapAllIndexed: boolean,
): Promise<void> {
  const repos = site.inventory().pgbackrest.repos.map((r) => r.index)
  const proofs = await drill.step(
    'prove the newest backup in every repo',
    async () => {
      const catalogs = await readCatalogs(site, repos)
      const proofs = await verifyBackups(
        site,
        catalogs,
        selectBackups(catalogs, { kind: 'latest' }, site.layout.evidenceFile),
        { keep: false, heapAllIndexed },
        audit,
      )
      const failed = proofs.filter((p) => p.verdict !== 'proven')
      if (failed.length) throw new Error(failed.map((p) => p.reason).join('; '))
      return proofs
    },
    (ps) => ps.map((p) => `repo${p.repo} ${p.backup}: ${p.tables} tables, ${p.rows} rows equal at ${p.lsn}`).join('; '),
  )
  drill.details.proofs = proofs.map((p) => ({ repo: p.repo, backup: p.backup, verdict: p.verdict, lsn: p.lsn }))
  for (const p of proofs)
    drill.measures.push({
      what: `restore of ${p.backup} from repo${p.repo} (proof${p.scratch.synced ? '' : '; unsynced scratch: a lower bound'})`,
      against: { kind: 'tiers' },
      rtoSeconds: p.objectives.rtoSeconds ?? NaN,
      rpoSeconds: p.objectives.rpoGapSeconds ?? NaN,
      lostCommits: 0, // equality at the exact LSN was proven table by table
    })
}

async function humanErrorAndPitr(
  site: LocalSitePort,
  drill: DrillRun,
  audit: AuditLog,
  writer: string,
  keep: boolean,
): Promise<void> {
  await drill.measured(
    'pitr',
    'human error, then PITR to just before it',
    () => pitrDrill(site, audit, writer, { beforeMs: 3000, afterMs: 2000, keep }),
    (r) =>
      `${r.deletedRows} rows deleted at ${r.targetIso}; the restore (reached ${r.reachedIso}) held all of them; ${r.repairedRows} copied back into the primary`,
  )
}

async function failoverUnderLoad(site: LocalSitePort, drill: DrillRun, audit: AuditLog, writer: string): Promise<void> {
  await drill.measured(
    'failover',
    'fail over under workload (kill -9 of the primary)',
    () => failoverDrill(site, audit, writer),
    (r) =>
      `${r.from} -> ${r.to}, endpoint follows; writer saw ${r.writerRtoSeconds.toFixed(2)} s without commits; ${r.measure.lostCommits} of ${r.ackedBeforeKill} acknowledged commit(s) lost; failback ${r.failbackSeconds.toFixed(1)} s, switch back ${r.switchbackSeconds.toFixed(1)} s`,
  )
}

async function warmAndBack(site: LocalSitePort, drill: DrillRun, audit: AuditLog, writer: string): Promise<void> {
  await drill.measured(
    'warm',
    'manual failover to the warm site and back',
    () => warmRoundTrip(site, audit, writer),
    (r) =>
      `${r.rebuilt ? `${r.rebuilt}; ` : ''}${r.primary} -> ${r.warm} in ${formatDuration(r.toWarmSeconds)} (switchover, writes verified on ${r.warm}); back to ${r.primary} with every standby rejoined in ${formatDuration(r.backSeconds)}; ${r.measure.lostCommits} acknowledged commit(s) lost`,
  )
}

async function communicationPlan(site: LocalSitePort, drill: DrillRun, hooks: Webhook[]): Promise<void> {
  const c = await drill.step(
    'communication plan: a test message to every channel in order',
    async () => {
      const r = await commsDrill(site.policy, hooks)
      const missed = r.checks.filter((x) => !x.reached)
      if (!r.ok)
        throw new Error(
          `${missed.map((x) => `${x.recipient} not reached (${x.status})`).join(', ') || 'messages out of order'}; ${r.note}`,
        )
      return r
    },
    (r) => `${r.checks.map((x) => `${x.recipient} ${x.latencyMs} ms`).join(', ')} (in the plan's order); ${r.note}`,
  )
  drill.details.communication = c
}

async function coldSite(site: LocalSitePort, drill: DrillRun, audit: AuditLog, keep: boolean): Promise<void> {
  await drill.measured(
    'cold',
    'cold site: rebuild from repo 2 alone',
    () => coldRebuild(site, audit, keep),
    (r) =>
      `${r.backup} + archive to ${r.reachedIso ?? '(unknown)'}, first write after ${formatDuration(r.measure.rtoSeconds)}${r.kept ? `; kept at ${r.dataDir}` : ''}`,
  )
}

function drillReport(site: LocalSitePort, drill: DrillRun, plan: DrillPlan): DrillReport {
  const { steps, measures, details } = drill
  const v = drillVerdict(site.policy, steps, measures)
  const ok = v.ok && !details.error
  const signoffs = plan.compliance ? signoffStatus(site) : []
  const text = [
    '',
    `drill report (${plan.level}: ${[...plan.sites.map((s) => `${s} site`), plan.communication && 'communication plan', plan.compliance && 'compliance'].filter(Boolean).join(', ') || 'integrity and PITR'})`,
    ...steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${formatDuration(s.seconds).padStart(8)}  ${s.name}: ${s.detail}`),
    '',
    ...v.lines.map((l) => `  ${l}`),
    ...(details.error ? [`  drill stopped: ${details.error}`] : []),
    ...(signoffs.length
      ? [
          '',
          '  for people to do (never counted as done by the drill):',
          ...signoffs.map(
            (d) =>
              `  ${d.overdue ? 'DUE ' : 'ok  '} ${d.what} (${d.every}): last ${d.last ? `${d.last.at.slice(0, 10)} by ${d.last.by}` : 'never signed'}${d.due ? `, next due ${d.due.slice(0, 10)}` : ''} - evidence.ts sign --item ${d.item} --by NAME`,
          ),
        ]
      : []),
    '',
    ok ? `DRILL PASSED (${plan.level})` : `DRILL FAILED (${plan.level})`,
    '',
  ].join('\n')
  return { level: plan.level, ok, objectives: v.objectives, signoffs, steps, measures, details, verdict: v.lines, text }
}

/** The ledger's record of a drill: what ran, the numbers, the verdict. */
function drillRecord(r: DrillReport): EvidenceRecord {
  return {
    kind: 'drill',
    at: new Date().toISOString(),
    level: r.level,
    verdict: r.ok ? 'passed' : 'failed',
    steps: r.steps.map((s) => ({ name: s.name, ok: s.ok, seconds: s.seconds })),
    measures: r.measures,
    objectives: r.objectives.map((o) => ({
      name: o.name,
      ok: o.ok,
      rto: o.rto,
      rpo: o.rpo,
      worstRtoSeconds: o.worstRto?.seconds ?? null,
      worstRpoSeconds: o.worstRpo?.seconds ?? null,
    })),
    error: r.details.error ?? null,
  }
}
