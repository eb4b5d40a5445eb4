#!/usr/bin/env zx
// Failback: rejoin the fenced old primary as a standby (pg_rewind, or a restore from the repo),
// then, with --switchover, switch back to it with zero data loss.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { requireLocal } from './lib/cli/stack.ts'
import { fencedNode, rejoin } from './lib/ops/failback/rejoin.ts'
import { failover } from './lib/ops/failover/failover.ts'
import { formatDuration } from '../core/duration.ts'
import { inputError } from '../core/errors.ts'
import { parseStandbyRole } from './lib/cli/flags.ts'

const spec = {
  name: 'failback.ts',
  summary:
    'rejoin a fenced old primary as a hot standby of the current primary; --switchover then makes it primary again',
  usage: 'npx zx runbooks/failback.ts [--node NAME] [--as hot|warm] [--switchover] [--yes] [--dry-run] [--json]',
  resume:
    'npx zx runbooks/failback.ts --yes: the node is still fenced until it streams, and rejoining starts over safely',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    node: { type: 'string', help: 'the fenced node to rejoin (default: the first fenced node)' },
    as: {
      type: 'string',
      help: 'hot (default: streaming, synchronous per policy) or warm (archive only: e.g. the warm node after its site was drilled or used)',
    },
    switchover: { type: 'boolean', help: 'after the rejoin, switch over back to it (planned, zero data loss)' },
    yes: { type: 'boolean', help: 'do not ask for confirmation' },
    'dry-run': { type: 'boolean', help: 'print what would be done; change nothing' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const ctx = await loadStack('failback.ts', flags, { lock: !flags['dry-run'] })
  const site = requireLocal(ctx, 'failback.ts')
  const node = fencedNode(site, flags.node)
  const role = parseStandbyRole(flags.as)
  if (role === 'warm' && flags.switchover)
    throw inputError('--switchover', 'with --as warm', 'a warm standby is not switched over to', 'drop one of them')
  const primary = site.state().primary
  const plan = [
    `1. CHECKPOINT on ${primary}; pg_rewind ${node} from it (archive as WAL source); if impossible, a fresh clone of ${node} from it (the old directory kept aside)`,
    role === 'hot'
      ? `2. start ${node} as a hot standby of ${primary} (slot ${node}), synchronous per policy`
      : `2. start ${node} as a warm standby (archive only, no slot)`,
    ...(flags.switchover
      ? [`3. switchover ${primary} -> ${node} (zero data loss), then rejoin ${primary} as its standby`]
      : []),
  ]
  if (flags['dry-run']) {
    ctx.audit.record('failback', 'dry-run', { plan })
    return void process.stdout.write(`${plan.join('\n')}\n(dry run: nothing was changed)\n`)
  }
  log.info(plan.join('\n'))
  await confirm(
    `Rewinding ${node} discards what it wrote after it was fenced (it is kept only in its own old WAL).`,
    !!flags.yes,
  )
  const joined = await rejoin(site, node, ctx.audit, role)
  log.info(`${node} rejoined as a standby of ${primary} (${joined.method}, ${formatDuration(joined.seconds)})`)
  let back
  if (flags.switchover) {
    back = await failover(
      site,
      { to: 'hot', dryRun: false, acceptDataLoss: false, switchover: true, automatic: false },
      ctx.audit,
      async () => {},
    )
    const again = await rejoin(site, back.from, ctx.audit)
    log.info(
      `switched back: ${back.from} -> ${back.to} in ${formatDuration(back.timings.rtoSeconds)}; ${again.node} rejoined (${again.method})`,
    )
  }
  if (flags.json) printJson({ rejoin: joined, switchover: back ?? null })
  else
    process.stdout.write(
      `failback done: primary ${site.state().primary}; standbys ${Object.entries(site.state().roles)
        .filter(([, r]) => r !== 'primary')
        .map(([n, r]) => `${n}=${r}`)
        .join(', ')}\n`,
    )
})
