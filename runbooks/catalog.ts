#!/usr/bin/env zx
// The recovery catalog: backups, archived WAL, earliest/latest recoverable points, tier verdicts.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { requireLocal } from './lib/cli/stack.ts'
import { buildCatalog, renderCatalog } from './lib/ops/catalog/report.ts'

const spec = {
  name: 'catalog.ts',
  summary:
    "list every repo's backups, archived WAL range, earliest and latest recoverable points, and a verdict per tier",
  usage: 'npx zx runbooks/catalog.ts [--stack local] [--json]',
  flags: { ...HELP_FLAG, ...STACK_FLAGS, json: { type: 'boolean', help: 'machine-readable output' } },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const ctx = await loadStack('catalog.ts', flags)
  const site = requireLocal(ctx, 'catalog.ts')
  site.requireCipherPass()
  const report = await ctx.audit.step('catalog', () => buildCatalog(site))
  if (flags.json) printJson(report)
  else process.stdout.write(renderCatalog(report))
  return report.ok ? 0 : 1
})
