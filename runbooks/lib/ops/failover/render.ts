/** Failover reports as an operator reads them at 3 a.m. */
import { formatDuration } from '../../../../core/duration.ts'
import type { CloudFailoverReport } from './cloud-failover.ts'
import type { FailoverReport } from './failover.ts'

const indent = (lines: string[]) => lines.map((l) => `  ${l}`).join('\n')

export function renderFailover(report: FailoverReport, dryRun: boolean): string {
  if (dryRun) return `${report.decision.reason}\n${indent(report.plan)}\n(dry run: nothing was changed)\n`
  const t = report.timings
  const d = formatDuration
  const notified = report.notified.map((n) => `${n.recipient} ${n.ok ? 'ok' : `FAILED (${n.status})`}`).join(', ')
  return (
    `${report.mode} ${report.from} -> ${report.to} done\n` +
    `  RTO ${d(t.rtoSeconds)} (detect ${d(t.detectSeconds)}, fence ${d(t.fenceSeconds)}, promote ${d(t.promoteSeconds)}, switch+verify ${d(t.switchSeconds)})\n` +
    `  data-loss window ${d(report.lossWindowSeconds)}: ${report.lossBasis}\n` +
    (report.salvaged
      ? `  salvaged: ${report.salvaged.replayed} of ${report.salvaged.commits} commit(s) that only ${report.salvaged.from}'s pg_wal held, replayed into ${report.to} before it was promoted (${report.salvaged.segments.length} segment(s), up to ${report.salvaged.upTo})\n`
      : '') +
    `  notified: ${notified || 'no webhooks configured'}\n` +
    (report.mode === 'failover' ? `  ${report.from} is fenced; rejoin it with: npx zx runbooks/failback.ts\n` : '')
  )
}

export function renderCloudFailover(stack: string, r: CloudFailoverReport, dryRun: boolean): string {
  if (dryRun) return `failover plan for stack ${stack}:\n${indent(r.plan)}\n(dry run: nothing was changed)\n`
  return (
    `failover of stack ${stack}: ${r.from} -> ${r.to} done, RTO ${formatDuration(r.rtoSeconds)}, DNS change ${r.dnsChange}\n` +
    `  data-loss window ${formatDuration(r.lossWindowSeconds)}: ${r.lossBasis}\n` +
    `  notified: ${r.notified.map((n) => `${n.recipient} ${n.ok ? 'ok' : `FAILED (${n.status})`}`).join(', ') || 'no webhooks configured'}\n`
  )
}
