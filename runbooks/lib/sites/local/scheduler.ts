/**
 * The site's scheduler, one process per site started by `local.ts up` and stopped by `down`
 * (by pid): it runs the policy's backups by their crons, proves each new backup, and runs the
 * drills at the sites' testing frequencies (core/schedule.ts). A per-site process rather than
 * the system cron daemon: its jobs carry the site's environment, several sites never share
 * one daemon, and `down` stops exactly this site's. Set LABDOJO_SCHEDULER=off to bring a site
 * up without it (the test suite does: its sites must not back up by the clock).
 */
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Cron } from 'croner'
import type { DrPolicy } from '../../../../core/policy.ts'
import { scheduledJobs } from '../../../../core/schedule.ts'
import { pidAlive, readPid, startDetached, stopByPidFile } from '../../adapters/process.ts'
import type { Layout } from './layout.ts'
import type { NextRun, SchedulerRow } from '../local-port.ts'

export type { NextRun, SchedulerRow }
import { serverLog } from '../../adapters/cluster-files.ts'

const MAIN = fileURLToPath(new URL('./scheduler-main.ts', import.meta.url))
const TSX = createRequire(import.meta.url).resolve('tsx')

export const schedulerWanted = (env = process.env) => env.LABDOJO_SCHEDULER !== 'off'

export function schedulerPid(l: Layout): number | undefined {
  const pid = readPid(l.scheduler.pid)
  return pidAlive(pid, 'scheduler-main.ts') ? pid : undefined
}

/** Start the scheduler unless it runs; true when it started it. */
export function ensureScheduler(l: Layout, env: NodeJS.ProcessEnv): boolean {
  if (schedulerPid(l)) return false
  mkdirSync(l.scheduler.dir, { recursive: true, mode: 0o750 })
  startDetached(process.execPath, ['--import', TSX, MAIN], { log: l.scheduler.log, pidFile: l.scheduler.pid, env })
  return true
}

export function stopScheduler(l: Layout): Promise<boolean> {
  // it stops the job it runs first (SIGTERM: the runbook stops at a safe point), waiting up to 10 s
  return stopByPidFile(l.scheduler.pid, 'scheduler-main.ts', 15_000)
}

/** The next run of each job (UTC). */
export function nextRuns(p: DrPolicy, now = new Date()): NextRun[] {
  return scheduledJobs(p)
    .map((j) => ({
      job: j.name,
      at: new Cron(j.cron, { timezone: 'UTC', paused: true }).nextRun(now)?.toISOString() ?? '',
    }))
    .sort((a, b) => a.at.localeCompare(b.at))
}

/** The scheduler: running or not, the next job, the last that ended (from its log). */
export function schedulerRow(site: { layout: Layout; policy: DrPolicy }, problems: string[]): SchedulerRow {
  const pid = schedulerPid(site.layout) ?? null
  const wanted = schedulerWanted()
  if (!pid && wanted)
    problems.push(
      `the scheduler is not running: no backup, proof or drill runs by the policy's schedule; local.ts up starts it (log ${site.layout.scheduler.log})`,
    )
  const ends = serverLog(site.layout.scheduler.log, 64 << 10)
    .split('\n')
    .filter((l) => / end /.test(l))
  return {
    running: !!pid,
    pid,
    wanted,
    next: pid ? (nextRuns(site.policy)[0] ?? null) : null,
    lastEnded: ends.at(-1) ?? null,
  }
}
