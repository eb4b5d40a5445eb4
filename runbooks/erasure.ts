#!/usr/bin/env zx
// GDPR erasure that survives every restore: erase a person, report who is erased and where they still are.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { inputError } from '../core/errors.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { log, printJson } from './lib/output/log.ts'
import { erase, erasureReport, parseUserId, renderErasureReport } from './lib/ops/erasure/erasure.ts'

const spec = {
  name: 'erasure.ts',
  summary:
    'erase a person from the live database (every table that references them) and record it in the erasure ledger kept outside the backups (beside repo 1, sealed offsite); every restore re-applies the ledger before it serves. report: for each erased person, the live rows left (must be 0) and until when backups from before still hold them',
  usage: 'npx zx runbooks/erasure.ts erase --user ID [--yes] [--json] | report [--json]',
  positionals: ['erase', 'report'],
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    user: { type: 'string', help: 'the user id to erase (erase)' },
    yes: { type: 'boolean', help: 'do not ask for confirmation (erase)' },
    json: { type: 'boolean', help: 'machine-readable output' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags, positionals }) => {
  const action = positionals[0]
  if (action !== 'erase' && action !== 'report')
    throw inputError('action', action, 'must be erase or report', 'e.g. npx zx runbooks/erasure.ts report')
  const user = action === 'erase' ? parseUserId(flags.user) : undefined
  const ctx = await loadStack('erasure.ts', flags, { lock: action === 'erase' })
  const site = requireLocal(ctx, 'erasure.ts')
  if (user !== undefined) {
    await confirm(`This deletes every row of user ${user} from the live database, for good.`, !!flags.yes)
    const r = await ctx.audit.step(`erase user ${user}`, () => erase(site, user))
    if (flags.json) return void printJson(r)
    const rows = Object.entries(r.rows).map(([t, n]) => `${t} ${n}`)
    const deleted = Object.values(r.rows).reduce((a, b) => a + b, 0)
    const what =
      deleted === 0
        ? `user ${user} was already erased (recorded ${r.at}); no row of it is live`
        : r.finished
          ? `finished the erasure of user ${user} recorded ${r.at}: ${rows.join(', ')} row(s)`
          : `erased user ${user}: ${rows.join(', ')} row(s); recorded in the erasure ledger`
    return void log.info(`${what}, ${r.offsite}`)
  }
  const rows = await erasureReport(site)
  if (flags.json) printJson({ erasures: rows })
  else process.stdout.write(renderErasureReport(rows, site.policy))
  return rows.some((r) => r.liveRows > 0) ? 1 : 0
})
