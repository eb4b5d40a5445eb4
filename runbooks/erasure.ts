#!/usr/bin/env zx
// GDPR erasure that survives every restore: erase a person, report who is erased and where they still are.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { inputError } from '../core/errors.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { log, printJson } from './lib/output/log.ts'
import { erase, erasureReport, parseUserId, renderErasureReport } from './lib/ops/erasure/erasure.ts'
import { cloudErasureReport, eraseCloud } from './lib/ops/erasure/cloud-erasure.ts'

const spec = {
  name: 'erasure.ts',
  summary:
    'erase a person from the live database (every table that references them) and record it in the erasure ledger kept outside the backups (local: beside repo 1, sealed offsite; a cloud stack: one object per record in every S3 vault); every restore re-applies the ledger before it serves. report: for each erased person, the live rows left (must be 0) and until when backups from before still hold them',
  usage:
    'npx zx runbooks/erasure.ts erase --user ID [--yes] [--json] | report [--json]  [--stack prod --inventory FILE]',
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
  const site = ctx.site
  if (user !== undefined) {
    await confirm(`This deletes every row of user ${user} from the live database, for good.`, !!flags.yes)
    const r = await ctx.audit.step(`erase user ${user}`, () =>
      site ? erase(site, user) : eraseCloud(ctx.inventory, user),
    )
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
  const rows = site ? await erasureReport(site) : await cloudErasureReport(ctx.inventory, ctx.policy)
  if (flags.json) printJson({ erasures: rows })
  else process.stdout.write(renderErasureReport(rows, ctx.policy))
  return rows.some((r) => r.liveRows > 0) ? 1 : 0
})
