#!/usr/bin/env zx
// The recovery catalog: backups, archived WAL, earliest/latest recoverable points, tier verdicts.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { run } from './lib/adapters/exec.ts'
import { cloudCatalog } from './lib/ops/catalog/cloud-catalog.ts'
import { buildCatalog, renderCatalog } from './lib/ops/catalog/report.ts'

const spec = {
  name: 'catalog.ts',
  summary:
    "list every repo's backups, archived WAL range, earliest and latest recoverable points, and a verdict per tier",
  usage:
    'npx zx runbooks/catalog.ts [--stack local] [--json]\n       npx zx runbooks/catalog.ts --stack prod --inventory FILE [--json]   (reads the S3 vaults with pgBackRest; credentials from the environment)',
  flags: { ...HELP_FLAG, ...STACK_FLAGS, json: { type: 'boolean', help: 'machine-readable output' } },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const ctx = await loadStack('catalog.ts', flags)
  const report = ctx.site
    ? (ctx.site.requireCipherPass(), await ctx.audit.step('catalog', () => buildCatalog(ctx.site!)))
    : await ctx.audit.step('catalog', () => cloudCatalog(run, ctx.inventory, ctx.policy), { stack: ctx.stack })
  if (flags.json) printJson(report)
  else process.stdout.write(renderCatalog(report))
  return report.ok ? 0 : 1
})
