#!/usr/bin/env zx
// The real local DR site on 127.0.0.1: up | status | down.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { inputError } from '../core/errors.ts'
import { loadPolicyFor, localLayout, auditFor } from './lib/cli/stack.ts'
import { LocalSite } from './lib/sites/local/site.ts'
import { acquireSiteLock } from './lib/sites/local/lock.ts'
import { stopScheduler } from './lib/sites/local/scheduler.ts'
import { parseScale } from './lib/cli/flags.ts'
import { renderStatus } from './lib/sites/local/render.ts'
import { run } from './lib/adapters/exec.ts'
import { anchorAuditWith } from './lib/output/audit.ts'
import { anchorAuditHead } from './lib/sites/local/audit-anchor.ts'

const spec = {
  name: 'local.ts',
  summary: 'build, inspect and stop the real local DR site (primary, hot, warm, cold, repos, endpoint)',
  usage:
    'npx zx runbooks/local.ts up|status|down [--scale N] [--monitoring] [--reset --yes] [--base-port P] [--json] [--purge --yes]',
  resume: 're-run the same command: up and down check each part before they act',
  positionals: ['up', 'status', 'down'],
  flags: {
    ...HELP_FLAG,
    scale: { type: 'string', help: 'data set size of a new site: 1 = about 1 GB (default 0.05)' },
    reset: { type: 'boolean', help: 'up: destroy the existing site (data, repos, secrets) and build a new one' },
    purge: { type: 'boolean', help: 'down: also delete the site state and secrets' },
    monitoring: {
      type: 'boolean',
      help: 'up: also run the DR exporter, Prometheus and Alertmanager (rules and routes from the policy); status shows the alerts firing',
    },
    yes: { type: 'boolean', help: 'confirm destructive steps (--reset, --purge) without asking' },
    'base-port': {
      type: 'string',
      help: 'new site: first of the 20 ports it uses (endpoint = base, nodes = base+1..3, s3 = base+9; default 25400)',
    },
    json: { type: 'boolean', help: 'status: machine-readable output' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags, positionals }) => {
  const [cmd, ...rest] = positionals
  if (!cmd || !(spec.positionals as readonly string[]).includes(cmd) || rest.length)
    throw inputError(
      'command',
      positionals.join(' ') || '(none)',
      'expected exactly one of up, status, down',
      'e.g. npx zx runbooks/local.ts up',
    )
  const policy = loadPolicyFor('local')
  const site = new LocalSite(localLayout(flags['base-port']), policy, run)
  const audit = auditFor('local.ts', 'local')
  anchorAuditWith(() => anchorAuditHead(site.layout, audit.file))
  // asked before anything stops: a refusal changes nothing
  if (cmd === 'down' && flags.purge)
    await confirm(`This deletes the local site in ${site.layout.stateDir} and its secrets.`, !!flags.yes)
  // a scheduled job may hold the lock: stopping the scheduler stops that job at a safe point
  if (cmd === 'down' && (await stopScheduler(site.layout)))
    log.info('stopped the scheduler (and any job it was running)')
  if (cmd !== 'status')
    await acquireSiteLock(site.layout, `local.ts ${process.argv.slice(2).join(' ')}`, cmd === 'down' ? 60_000 : 0)

  if (cmd === 'up') {
    const scale = parseScale(flags.scale, 0.05)
    if (flags.reset && site.exists()) {
      await confirm(
        `This destroys the local site in ${site.layout.stateDir}: its data, both repos and the cipher pass.`,
        !!flags.yes,
      )
      await audit.step('reset', async () => {
        await site.down()
        site.purge()
      })
    }
    const t0 = Date.now()
    const changes = await audit.step('up', () => site.up({ scale, monitoring: !!flags.monitoring }), {
      basePort: site.layout.basePort,
      ...(site.exists() ? {} : { scale }),
    })
    log.info(changes.length ? changes.map((c) => `+ ${c}`).join('\n') : 'local site is healthy: no changes')
    log.info(`up took ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const status = await site.status(audit.file)
    if (flags.json) printJson({ changes, status })
    else process.stdout.write(renderStatus(status))
    return status.healthy ? 0 : 1
  }
  if (cmd === 'status') {
    const status = await site.status(audit.file)
    if (flags.json) printJson(status)
    else process.stdout.write(renderStatus(status))
    return status.healthy ? 0 : 1
  }
  // down
  const changes = await audit.step('down', () => site.down(), { purge: !!flags.purge })
  if (flags.purge) site.purge()
  log.info(changes.length ? changes.map((c) => `- ${c}`).join('\n') : 'nothing was running')
  if (flags.purge) log.info(`- deleted ${site.layout.stateDir} and its secrets`)
  return 0
})
