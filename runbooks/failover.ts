#!/usr/bin/env zx
// Failover: detect, decide (guarded), fence, promote, switch traffic, verify, notify.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { interruption, progress } from './lib/output/interrupt.ts'
import { STACK_FLAGS, loadStack, readCloudInventory } from './lib/cli/stack.ts'
import { withPrimaryOf } from '../core/inventory.ts'
import { cloudFailoverRun } from './lib/ops/failover/cloud-watch.ts'
import { failover, watch, type LocalFailoverReport } from './lib/ops/failover/failover.ts'
import { renderFailover } from './lib/ops/failover/outcome.ts'
import { parseSeconds, parseStandbySite } from './lib/cli/flags.ts'
import { recordOutcome } from './lib/ops/evidence/ledger.ts'
import { alertNow } from './lib/ops/alert-now.ts'
import { siteWebhooks } from './lib/sites/local/secrets.ts'
import { rejoin } from './lib/ops/failback/rejoin.ts'
import { InputError, inputError, Refusal } from '../core/errors.ts'
import { formatDuration } from '../core/duration.ts'

const spec = {
  name: 'failover.ts',
  summary:
    'fail over to the hot (or warm) standby: fence the old primary, promote, switch the endpoint, verify a write, notify',
  usage:
    'npx zx runbooks/failover.ts [--stack local] [--to hot|warm] [--watch] [--dry-run] [--yes] [--accept-data-loss] [--switchover]',
  resume:
    'npx zx runbooks/failover.ts --yes: it gathers the facts again and carries on (a fenced old primary stays fenced); local.ts status shows where traffic goes',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    to: {
      type: 'string',
      help: 'hot (automatic by policy) or warm (manual: replays the archive first)',
      default: 'hot',
    },
    watch: {
      type: 'boolean',
      help: "keep probing the primary and fail over by itself after N consecutive failures (the guide's automated failover)",
    },
    'max-seconds': { type: 'string', help: '--watch: stop watching after this many seconds (default: forever)' },
    'dry-run': { type: 'boolean', help: 'print the decision and the plan; change nothing' },
    yes: { type: 'boolean', help: 'do not ask for confirmation' },
    'accept-data-loss': {
      type: 'boolean',
      help: 'promote even when the candidate is behind by more than the tier-1 RPO',
    },
    switchover: {
      type: 'boolean',
      help: 'planned switchover from a healthy primary, zero data loss; the old primary rejoins as a standby',
    },
    'fence-inventory': {
      type: 'string',
      help: "a cloud stack whose inventory names no primary (dr): the inventory of the stack that has it (prod's), so the failover can probe it and shut it down through PGO before it promotes",
    },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const to = parseStandbySite(flags.to)
  const maxSeconds = parseSeconds(flags['max-seconds'], '--max-seconds', 0)
  if (flags.watch && flags.switchover)
    throw inputError('--watch', true, 'a switchover is planned, not detected', 'drop --watch or --switchover')
  const o = {
    to,
    dryRun: !!flags['dry-run'],
    acceptDataLoss: !!flags['accept-data-loss'],
    switchover: !!flags.switchover,
    automatic: false,
  }
  const confirmStep = (q: string) => confirm(q, !!flags.yes)
  const ctx = await loadStack('failover.ts', flags, { lock: !flags['dry-run'] && !flags.watch })
  if (flags['fence-inventory'] !== undefined && ctx.site)
    throw inputError('--fence-inventory', flags['fence-inventory'], 'is for cloud stacks', 'drop --fence-inventory')
  if (!ctx.site) {
    const ledger = ctx.evidence!
    const inv = flags['fence-inventory']
      ? withPrimaryOf(ctx.inventory, readCloudInventory('prod', flags['fence-inventory'], '--fence-inventory'))
      : ctx.inventory
    const r = await cloudFailoverRun(inv, ctx.policy, o, ctx.audit, confirmStep, {
      watch: !!flags.watch,
      maxSeconds,
    }).catch(async (error) => {
      await recordOutcome(ledger, 'failover', { error })
      throw error
    })
    if (!r) return void log.info('watch ended: no failover (the decisions are above and in the audit log)')
    if (!o.dryRun) await recordOutcome(ledger, 'failover', { report: { ...r } })
    if (interruption.signal) log.warn(`${interruption.signal} came during the ${r.mode}: it was finished first`)
    return void (flags.json ? printJson(r) : process.stdout.write(renderFailover(r, o.dryRun, ctx.stack)))
  }
  const site = ctx.site
  const hooks = siteWebhooks(site) // read and validated before anything changes; a failure is told through them
  let report: LocalFailoverReport | undefined
  if (flags.watch) {
    const d = site.policy.detection
    log.info(
      `watching primary ${site.state().primary} every ${d.probeInterval * 1000} ms (failover after ${d.failureThreshold} consecutive failures)`,
    )
    report = await watch(site, o, ctx.audit, maxSeconds)
    if (!report) return void log.info('primary stayed healthy')
  } else
    report = await failover(site, o, ctx.audit, confirmStep).catch(async (error) => {
      await recordOutcome(site, 'failover', { error })
      if (!(error instanceof InputError || error instanceof Refusal))
        await alertNow(site.policy, hooks, `failover to ${o.to}`, (error as Error).message)
      throw error
    })
  if (!o.dryRun) await recordOutcome(site, 'failover', { report: { ...report } })
  if (interruption.signal) log.warn(`${interruption.signal} came during the ${report.mode}: it was finished first`)
  if (report.mode === 'switchover' && !o.dryRun) {
    progress.resume = `the switchover itself is done; npx zx runbooks/failback.ts --yes rejoins ${report.from} as a standby`
    const r = await rejoin(site, report.from, ctx.audit)
    log.info(`${r.node} rejoined as a standby of ${r.primary} (${r.method}, ${formatDuration(r.seconds)})`)
  }
  if (flags.json) return void printJson(report)
  process.stdout.write(renderFailover(report, o.dryRun))
})
