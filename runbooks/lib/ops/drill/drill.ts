/** The drill's procedure: each step timed and audited; the verdict comes from core/drill.ts. */
import type { LocalSite, SiteStatus } from '../../sites/local/site.ts'
import type { AuditLog } from '../../output/audit.ts'
import { drillVerdict, type RecoveryMeasure, type StepResult } from '../../../../core/drill.ts'
import { formatDuration } from '../../../../core/duration.ts'
import { reposFor } from '../../../../core/backup-policy.ts'
import { physicalBackup } from '../backup/backup.ts'
import { startWriter, stopWriter, writerRunning } from '../../sites/local/workload.ts'
import { pitrDrill } from './pitr-drill.ts'
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

export async function runDrill(site: LocalSite, audit: AuditLog, o: DrillOptions): Promise<DrillReport> {
  const steps: StepResult[] = []
  const measures: RecoveryMeasure[] = []
  const details: Record<string, unknown> = {}
  const step = async <T>(name: string, fn: () => Promise<T>, describe: (v: T) => string): Promise<T> => {
    log.info(`== ${name}`)
    const t0 = Date.now()
    try {
      const v = await audit.step(`drill: ${name}`, fn)
      steps.push({ name, seconds: (Date.now() - t0) / 1000, ok: true, detail: describe(v) })
      log.info(`   ${describe(v)} (${formatDuration((Date.now() - t0) / 1000)})`)
      return v
    } catch (e) {
      steps.push({ name, seconds: (Date.now() - t0) / 1000, ok: false, detail: (e as Error).message })
      throw e
    }
  }
  let writer: string | undefined
  try {
    const changes = await step(
      'bring the local site up',
      () => site.up({ scale: o.scale }),
      (c) => (c.length ? `${c.length} change(s)` : 'already healthy'),
    )
    details.upChanges = changes
    const health = await step(
      'check health',
      () => site.status(),
      (s) =>
        s.healthy ? 'primary, hot, warm, both repos and the endpoint healthy' : `UNHEALTHY: ${s.problems.join('; ')}`,
    )
    o.onHealth?.(health)
    if (!health.healthy) throw new Error(`the site is not healthy: ${health.problems.join('; ')}`)
    const repos = reposFor(site.policy, 'full', undefined, [1, 2])
    const backups = await step(
      'full backup',
      () => physicalBackup(site, 'full', repos),
      (b) => b.map((r) => `repo${r.repo} ${r.label} in ${formatDuration(r.durationSeconds)}`).join(', '),
    )
    details.backups = backups
    if (writerRunning(site.layout)) await stopWriter(site.layout)
    writer = await step(
      'start the workload',
      () => startWriter(site.layout, o.rate),
      (id) => `writer ${id} at ${o.rate} commits/s through the endpoint`,
    )
    const pitr = await step(
      'human error, then PITR to just before it',
      () => pitrDrill(site, audit, writer!, { beforeMs: 3000, afterMs: 2000, keep: o.keep }),
      (r) =>
        `${r.deletedRows} rows deleted at ${r.targetIso}; the restore (reached ${r.reachedIso}) held all of them; ${r.repairedRows} copied back into the primary`,
    )
    details.pitr = pitr
    measures.push(pitr.measure)
    if (o.failover) {
      const { failoverDrill } = await import('./failover-drill.ts')
      const fo = await step(
        'fail over under workload (kill -9 of the primary)',
        () => failoverDrill(site, audit, writer!),
        (r) =>
          `${r.from} -> ${r.to}, endpoint follows; writer saw ${r.writerRtoSeconds.toFixed(2)} s without commits; ${r.measure.lostCommits} of ${r.ackedBeforeKill} acknowledged commit(s) lost; failback ${r.failbackSeconds.toFixed(1)} s, switch back ${r.switchbackSeconds.toFixed(1)} s`,
      )
      details.failover = fo
      measures.push(fo.measure)
    }
  } catch (e) {
    details.error = (e as Error).message
  } finally {
    if (writer) await stopWriter(site.layout)
  }
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
