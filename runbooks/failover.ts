#!/usr/bin/env zx
// Failover: detect, decide (guarded), fence, promote, switch traffic, verify, notify.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { cloudFailover } from './lib/ops/failover/cloud-failover.ts'
import { run } from './lib/adapters/exec.ts'
import { failover, watch, type FailoverReport } from './lib/ops/failover/failover.ts'
import { rejoin } from './lib/ops/failback/rejoin.ts'
import { inputError } from '../core/errors.ts'
import { formatDuration } from '../core/duration.ts'

const spec = {
  name: 'failover.ts',
  summary:
    'fail over to the hot (or warm) standby: fence the old primary, promote, switch the endpoint, verify a write, notify',
  usage:
    'npx zx runbooks/failover.ts [--stack local] [--to hot|warm] [--watch] [--dry-run] [--yes] [--accept-data-loss] [--switchover]',
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
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const to = flags.to ?? 'hot'
  if (to !== 'hot' && to !== 'warm') throw inputError('--to', to, 'must be hot or warm', 'e.g. --to hot')
  const maxSeconds = flags['max-seconds'] === undefined ? 0 : Number(flags['max-seconds'])
  if (!Number.isFinite(maxSeconds) || maxSeconds < 0)
    throw inputError(
      '--max-seconds',
      flags['max-seconds'],
      'must be a number of seconds >= 0',
      'e.g. --max-seconds 600',
    )
  if (flags.watch && flags.switchover)
    throw inputError('--watch', true, 'a switchover is planned, not detected', 'drop --watch or --switchover')
  const ctx = await loadStack('failover.ts', flags)
  if (!ctx.site) {
    const r = await cloudFailover(
      ctx.inventory,
      ctx.policy,
      {
        to: to as 'hot' | 'warm',
        dryRun: !!flags['dry-run'],
        acceptDataLoss: !!flags['accept-data-loss'],
        switchover: !!flags.switchover,
      },
      run,
      ctx.audit,
      (q) => confirm(q, !!flags.yes),
    )
    if (flags.json) return void printJson(r)
    process.stdout.write(
      flags['dry-run']
        ? `failover plan for stack ${ctx.stack}:\n${r.plan.map((l) => `  ${l}`).join('\n')}\n(dry run: nothing was changed)\n`
        : `failover of stack ${ctx.stack}: ${r.from} -> ${r.to} done, RTO ${formatDuration(r.rtoSeconds)}, DNS change ${r.dnsChange}\n`,
    )
    return
  }
  const site = ctx.site
  const o = {
    to: to as 'hot' | 'warm',
    dryRun: !!flags['dry-run'],
    acceptDataLoss: !!flags['accept-data-loss'],
    switchover: !!flags.switchover,
    automatic: false,
  }
  let report: FailoverReport | undefined
  if (flags.watch) {
    log.info(
      `watching primary ${site.state().primary} every ${site.policy.detection.probeInterval * 1000} ms (failover after ${site.policy.detection.failureThreshold} consecutive failures)`,
    )
    report = await watch(site, o, ctx.audit, maxSeconds)
    if (!report) return void log.info('primary stayed healthy')
  } else report = await failover(site, o, ctx.audit, (q) => confirm(q, !!flags.yes))
  if (report.mode === 'switchover' && !o.dryRun) {
    const r = await rejoin(site, report.from, ctx.audit)
    log.info(`${r.node} rejoined as a standby of ${r.primary} (${r.method}, ${formatDuration(r.seconds)})`)
  }
  if (flags.json) return void printJson(report)
  if (o.dryRun)
    return void process.stdout.write(
      `${report.decision.reason}\n${report.plan.map((l) => `  ${l}`).join('\n')}\n(dry run: nothing was changed)\n`,
    )
  const t = report.timings
  process.stdout.write(
    `${report.mode} ${report.from} -> ${report.to} done\n` +
      `  RTO ${formatDuration(t.rtoSeconds)} (detect ${formatDuration(t.detectSeconds)}, fence ${formatDuration(t.fenceSeconds)}, promote ${formatDuration(t.promoteSeconds)}, switch+verify ${formatDuration(t.switchSeconds)})\n` +
      `  data-loss window ${formatDuration(report.lossWindowSeconds)}: ${report.lossBasis}\n` +
      `  notified: ${report.notified.map((n) => `${n.recipient} ${n.ok ? 'ok' : `FAILED (${n.status})`}`).join(', ') || 'no webhooks configured'}\n` +
      (report.mode === 'failover' ? `  ${report.from} is fenced; rejoin it with: npx zx runbooks/failback.ts\n` : ''),
  )
})
