#!/usr/bin/env zx
// Prove backups restorable: equal to the warm standby at an exact LSN, structurally sound, within the objectives.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { parseRepo } from './lib/cli/flags.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { printJson } from './lib/output/log.ts'
import { alertNow } from './lib/ops/alert-now.ts'
import { siteWebhooks } from './lib/sites/local/secrets.ts'
import {
  parseBackupSelector,
  readCatalogs,
  renderProofs,
  selectBackups,
  verifyBackups,
} from './lib/ops/verify/verify.ts'

const spec = {
  name: 'verify.ts',
  summary:
    'prove backups restorable: restore each into a scratch cluster at the exact LSN the warm standby is paused at, compare every table, check structure and the tier-1 objectives; every proof goes to the evidence ledger',
  usage: 'npx zx runbooks/verify.ts [--backup LABEL|latest|pending] [--repo N|all] [--keep] [--json]',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    backup: {
      type: 'string',
      help: 'LABEL, latest (the newest in each repo, default) or pending (every backup without a proof)',
    },
    repo: { type: 'string', help: "N or all (default): repo 2 alone is the cold site's path" },
    keep: { type: 'boolean', help: 'keep the scratch cluster (stopped on failure, running on success) for inspection' },
    json: { type: 'boolean', help: 'machine-readable output' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const selector = parseBackupSelector(flags.backup)
  const ctx = await loadStack('verify.ts', flags, { lock: true })
  const site = requireLocal(ctx, 'verify.ts')
  site.requireCipherPass()
  const available = site.inventory().pgbackrest.repos.map((r) => r.index)
  const repo = flags.repo === 'all' ? undefined : parseRepo(flags.repo, available)
  const catalogs = await readCatalogs(site, repo ? [repo] : available)
  const backups = selectBackups(catalogs, selector, site.layout.evidenceFile)
  const hooks = siteWebhooks(site)
  const proofs = await verifyBackups(site, catalogs, backups, { keep: !!flags.keep }, ctx.audit)
  for (const p of proofs.filter((x) => x.verdict !== 'proven'))
    await alertNow(site.policy, hooks, `the proof of ${p.backup} (repo ${p.repo})`, p.reason)
  if (flags.json) printJson({ proofs })
  else process.stdout.write(renderProofs(proofs))
  return proofs.every((p) => p.verdict === 'proven') ? 0 : 1
})
