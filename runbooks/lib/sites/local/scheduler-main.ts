/**
 * The scheduler daemon of one local site (started by scheduler.ts): each job of the policy
 * runs the runbook an operator would run, with the site's environment; a job still running
 * when its next time comes is skipped (logged), never doubled; a backup that succeeds is
 * followed by the proof of every backup not yet proven. Runbooks audit themselves; this log
 * says what started, when, and how it ended. SIGTERM stops the crons and the running job.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Cron } from 'croner'
import { scheduledJobs, type ScheduledJob } from '../../../../core/schedule.ts'
import { LOCAL_STACK } from '../../../../core/project-config.ts'
import { loadPolicy } from '../../../../config/project-files.ts'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const TSX = createRequire(import.meta.url).resolve('tsx')
const say = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)
let running: ChildProcess | undefined

function runOnce(job: Omit<ScheduledJob, 'cron'>): Promise<number> {
  say(`start ${job.name}: ${job.runbook}.ts ${job.args.join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', TSX, join(REPO_ROOT, 'runbooks', `${job.runbook}.ts`), ...job.args],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    )
    running = child
    let err = ''
    child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)))
    child.on('close', (code) => {
      running = undefined
      const last = err.trim().split('\n').at(-1) ?? ''
      say(`end ${job.name}: exit ${code}${code ? ` - ${last}` : ''}`)
      resolve(code ?? 1)
    })
  })
}

async function runJob(job: ScheduledJob): Promise<void> {
  const code = await runOnce(job)
  if (code === 0 && job.then) await runOnce(job.then)
}

const policy = loadPolicy(process.env.LABDOJO_PROJECT_DIR ?? REPO_ROOT, LOCAL_STACK)
const crons = scheduledJobs(policy).map(
  (job) =>
    new Cron(job.cron, { timezone: 'UTC', protect: () => say(`skip ${job.name}: the previous run still runs`) }, () =>
      runJob(job),
    ),
)
say(
  `scheduler up (pid ${process.pid}): ${crons.map((c, i) => `${scheduledJobs(policy)[i]!.name} next ${c.nextRun()?.toISOString()}`).join('; ')}`,
)

const stop = () => {
  say('scheduler stopping')
  for (const c of crons) c.stop()
  running?.kill('SIGTERM')
  setTimeout(() => process.exit(0), running ? 10_000 : 0).unref()
  if (!running) process.exit(0)
  running.on('close', () => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
