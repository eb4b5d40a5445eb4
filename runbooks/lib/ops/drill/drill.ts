/** The drill's procedure: each step timed and audited; the verdict comes from core/drill.ts. */
import type { LocalSite, SiteStatus } from '../../sites/local/site.ts'
import type { AuditLog } from '../../output/audit.ts'
import { drillVerdict, type RecoveryMeasure, type StepResult } from '../../../../core/drill.ts'
import { formatDuration } from '../../../../core/duration.ts'
import { reposFor } from '../../../../core/backup-policy.ts'
import { physicalBackup } from '../backup/backup.ts'
import { startWriter, stopWriter, writerRunning } from '../../sites/local/workload.ts'
import { pitrDrill } from './pitr-drill.ts'
import { failoverDrill } from './failover-drill.ts'
import { log } from '../../output/log.ts'

export interface DrillOptions {
  scale: number
  rate: number
  failover: boolean
  keep: boolean
  onHealth?: (s: SiteStatus) => void
}

export interface DrillReport {
  ok: boolean
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
}

export async function runDrill(site: LocalSite, audit: AuditLog, o: DrillOptions): Promise<DrillReport> {
  const drill = new DrillRun(audit)
  let writer: string | undefined
  try {
    await bringUpHealthy(site, drill, o)
    await fullBackup(site, drill)
    if (writerRunning(site.layout)) await stopWriter(site.layout)
    writer = await drill.step(
      'start the workload',
      () => startWriter(site.layout, o.rate),
      (id) => `writer ${id} at ${o.rate} commits/s through the endpoint`,
    )
    await humanErrorAndPitr(site, drill, audit, writer, o.keep)
    if (o.failover) await failoverUnderLoad(site, drill, audit, writer)
  } catch (e) {
    drill.details.error = (e as Error).message
  } finally {
    if (writer) await stopWriter(site.layout)
  }
  return drillReport(site, drill)
}

async function bringUpHealthy(site: LocalSite, drill: DrillRun, o: DrillOptions): Promise<void> {
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

async function fullBackup(site: LocalSite, drill: DrillRun): Promise<void> {
  const repos = reposFor(site.policy, 'full', undefined, [1, 2])
  drill.details.backups = await drill.step(
    'full backup',
    () => physicalBackup(site, 'full', repos),
    (b) => b.map((r) => `repo${r.repo} ${r.label} in ${formatDuration(r.durationSeconds)}`).join(', '),
  )
}

async function humanErrorAndPitr(
  site: LocalSite,
  drill: DrillRun,
  audit: AuditLog,
  writer: string,
  keep: boolean,
): Promise<void> {
  const pitr = await drill.step(
    'human error, then PITR to just before it',
    () => pitrDrill(site, audit, writer, { beforeMs: 3000, afterMs: 2000, keep }),
    (r) =>
      `${r.deletedRows} rows deleted at ${r.targetIso}; the restore (reached ${r.reachedIso}) held all of them; ${r.repairedRows} copied back into the primary`,
  )
  drill.details.pitr = pitr
  drill.measures.push(pitr.measure)
}

async function failoverUnderLoad(site: LocalSite, drill: DrillRun, audit: AuditLog, writer: string): Promise<void> {
  const fo = await drill.step(
    'fail over under workload (kill -9 of the primary)',
    () => failoverDrill(site, audit, writer),
    (r) =>
      `${r.from} -> ${r.to}, endpoint follows; writer saw ${r.writerRtoSeconds.toFixed(2)} s without commits; ${r.measure.lostCommits} of ${r.ackedBeforeKill} acknowledged commit(s) lost; failback ${r.failbackSeconds.toFixed(1)} s, switch back ${r.switchbackSeconds.toFixed(1)} s`,
  )
  drill.details.failover = fo
  drill.measures.push(fo.measure)
}

function drillReport(site: LocalSite, drill: DrillRun): DrillReport {
  const { steps, measures, details } = drill
  const v = drillVerdict(site.policy, steps, measures)
  const ok = v.ok && !details.error
  const text = [
    '',
    'drill report',
    ...steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${formatDuration(s.seconds).padStart(8)}  ${s.name}: ${s.detail}`),
    '',
    ...v.lines.map((l) => `  ${l}`),
    ...(details.error ? [`  drill stopped: ${details.error}`] : []),
    '',
    ok ? 'DRILL PASSED' : 'DRILL FAILED',
    '',
  ].join('\n')
  return { ok, steps, measures, details, verdict: v.lines, text }
}
