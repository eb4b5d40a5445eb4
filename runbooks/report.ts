#!/usr/bin/env zx
// The monthly DR report: the guide's dashboard metrics, a timeline, proof status, recoverable points, compliance.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { parseMonth } from './lib/cli/flags.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { printJson } from './lib/output/log.ts'
import { writeReport } from './lib/ops/report/report.ts'

const spec = {
  name: 'report.ts',
  summary:
    "write the month's DR report as one self-contained HTML page (inline SVG, no network) and JSON: backup success rate, recovery time achieved, storage growth, data integrity score, a timeline, each backup's proof status, the latest recoverable point per repo, and compliance (retention, encryption, offsite copy, key dates, sign-offs due)",
  usage: 'npx zx runbooks/report.ts [--month YYYY-MM] [--out DIR] [--json]',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    month: { type: 'string', help: 'the month to report (default: this month, UTC)' },
    out: { type: 'string', help: "directory for the HTML and JSON files (default: the site's reports directory)" },
    json: { type: 'boolean', help: 'print the report data as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const month = parseMonth(flags.month)
  const ctx = await loadStack('report.ts', flags)
  const site = requireLocal(ctx, 'report.ts')
  site.requireCipherPass()
  const r = await ctx.audit.step('report', () =>
    writeReport(site, { month, out: flags.out, auditFile: ctx.audit.file }),
  )
  if (flags.json) printJson(r.data)
  else process.stdout.write(`report written: ${r.html}\n             and ${r.json}\n`)
  return 0
})
