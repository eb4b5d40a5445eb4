/** Human-readable status of the local site. */
import { formatBytes, formatDuration } from '../../../../core/duration.ts'
import type { SiteStatus } from './site.ts'

const ok = (b: boolean) => (b ? 'OK  ' : 'FAIL')

export function renderStatus(s: SiteStatus): string {
  const lines = [`local site ${s.healthy ? 'HEALTHY' : 'UNHEALTHY'}  (${s.stateDir})`, '']
  lines.push('  node   site     role     live     port   LSN            TL  lag            ')
  for (const n of s.nodes) {
    const lag =
      n.role === 'primary'
        ? '-'
        : `${n.replicationLagBytes === null ? '?' : formatBytes(n.replicationLagBytes)}${n.replayLagSeconds !== null ? ` / ${formatDuration(n.replayLagSeconds)}` : ''}${n.syncState ? ` (${n.syncState})` : ''}`
    lines.push(
      `${ok(n.healthy)} ${n.name.padEnd(6)} ${n.site.padEnd(8)} ${n.role.padEnd(8)} ${n.live.padEnd(8)} ${String(n.port).padEnd(6)} ${(n.lsn ?? '-').padEnd(14)} ${String(n.timeline ?? '-').padEnd(3)} ${lag}`,
    )
  }
  if (s.archive)
    lines.push(
      '',
      `${ok(!s.archive.failing)} archive  last ${s.archive.lastArchivedWal ?? 'none'} (${s.archive.lastArchivedAgeSeconds === null ? '-' : formatDuration(s.archive.lastArchivedAgeSeconds)} ago), ${s.archive.lagSegments ?? '?'} segment(s) behind, ${s.archive.failedCount} failures`,
    )
  for (const r of s.repos)
    lines.push(
      `${ok(r.healthy)} repo${r.index}    ${r.type.padEnd(6)} ${r.backups} backup(s), latest ${r.latestBackup ?? 'none'}, WAL up to ${r.archiveMax ?? 'none'}${r.healthy ? '' : ` - ${r.message}`}${r.index === 2 ? offsiteQueueNote(s.offsiteQueue) : ''}`,
    )
  lines.push(
    `${ok(s.endpoint.healthy)} endpoint 127.0.0.1:${s.endpoint.port} -> ${s.endpoint.target ?? 'FENCED'}${s.endpoint.routesToPort ? ` (answers from port ${s.endpoint.routesToPort})` : ''}`,
  )
  const sc = s.scheduler
  lines.push(
    `${ok(sc.running || !sc.wanted)} schedule ${sc.running ? `running (pid ${sc.pid})${sc.next ? `, next ${sc.next.job} at ${sc.next.at}` : ''}${sc.lastEnded ? `; last: ${sc.lastEnded.replace(/^\S+ end /, '')}` : ''}` : sc.wanted ? 'NOT RUNNING' : 'off (LABDOJO_SCHEDULER=off)'}`,
  )
  if (s.alerts)
    lines.push(
      `${ok(!s.alerts.length)} alerts   ${s.alerts.length ? `${s.alerts.length} firing` : 'none firing'} (Alertmanager)`,
      ...s.alerts.map(
        (a) =>
          `     ${a.severity.toUpperCase().padEnd(8)} ${a.name}${a.escalation !== '0' ? ` (escalated, level ${a.escalation})` : ''}: ${a.summary} (since ${a.since.slice(0, 19)})`,
      ),
    )
  if (s.audit)
    lines.push(
      `${ok(s.audit.ok)} audit    ${s.audit.entries} entries, ${
        s.audit.ok
          ? `hash chain intact, ${s.audit.anchors === null ? `head not checked: ${s.audit.problem}` : `head matches its ${s.audit.anchors} offsite anchor(s)`}`
          : `ALTERED: ${s.audit.problem}`
      }`,
    )
  if (s.problems.length) lines.push('', 'problems:', ...s.problems.map((p) => `  - ${p}`))
  return lines.join('\n') + '\n'
}

function offsiteQueueNote(q: SiteStatus['offsiteQueue']): string {
  if (!q.files) return ''
  return `; ${q.files} WAL file(s) queued for it, oldest ${q.oldest} (${formatDuration(q.oldestAgeSeconds ?? 0)})`
}
