/**
 * What runs by itself, pure: the policy's backup schedules (each backup followed by a proof of
 * every backup not yet proven) and the drill levels at policy.schedules.drills. The local
 * site's scheduler and the CI workflow (dr-drill.yml) are both generated from this list.
 */
import type { DrPolicy } from './policy.ts'
import { DRILL_LEVELS } from './drill.ts'

export interface ScheduledJob {
  name: string
  /** 5-field cron, UTC */
  cron: string
  runbook: 'backup' | 'verify' | 'drill'
  args: string[]
  /** run after this one succeeds */
  then?: Omit<ScheduledJob, 'cron' | 'then'>
}

const PROVE_PENDING = { name: 'prove new backups', runbook: 'verify' as const, args: ['--backup', 'pending'] }

export function scheduledJobs(p: DrPolicy): ScheduledJob[] {
  const s = p.schedules
  return [
    { name: 'full backup', cron: s.full.cron, runbook: 'backup', args: ['--type', 'full'], then: PROVE_PENDING },
    {
      name: 'differential backup',
      cron: s.differential.cron,
      runbook: 'backup',
      args: ['--type', 'diff'],
      then: PROVE_PENDING,
    },
    {
      name: 'incremental backup',
      cron: s.incremental.cron,
      runbook: 'backup',
      args: ['--type', 'incr'],
      then: PROVE_PENDING,
    },
    { name: 'logical export', cron: s.logicalExport.cron, runbook: 'backup', args: ['--type', 'logical'] },
    ...p.files.map((c): ScheduledJob => ({
      name: `${c.name} backup (${c.kind}, tier ${c.tier})`,
      cron: c.schedule,
      runbook: 'backup',
      args: ['--type', c.kind, '--class', c.name],
    })),
    ...DRILL_LEVELS.map((level): ScheduledJob => ({
      name: `${level} drill`,
      cron: s.drills[level],
      runbook: 'drill',
      args: ['--level', level],
    })),
  ]
}
