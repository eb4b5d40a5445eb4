#!/usr/bin/env zx
// File-system recovery of the application (the guide's procedure): stop, restore the source in place, permissions, dependencies, build, start, health check.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { parseFilesRestore } from './lib/cli/flags.ts'
import { classesFor } from '../core/files.ts'
import { fsRecovery } from './lib/ops/files/fs-recovery.ts'

const spec = {
  name: 'fs-recovery.ts',
  summary:
    "recover the application's file system from its source backup: stop the app, restore the source in place (verified, the old tree kept), fix permissions, install dependencies, build, start, health check",
  usage: 'npx zx runbooks/fs-recovery.ts [--at TIME] [--repo 1|2] [--yes] [--json]',
  resume: 're-run fs-recovery.ts: it restores again beside the live tree and redoes every step; the kept trees stay',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    at: { type: 'string', help: 'the newest source snapshot at or before this ISO-8601 time (default: the newest)' },
    repo: { type: 'string', help: '1 or 2 (default: repo1, else repo2)' },
    yes: { type: 'boolean', help: 'do not ask for confirmation' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const o = parseFilesRestore({ ...flags, 'in-place': true }, ['source'])
  const ctx = await loadStack('fs-recovery.ts', flags, { lock: true })
  const site = requireLocal(ctx, 'fs-recovery.ts')
  const [source] = classesFor(ctx.policy, 'source')
  await confirm(
    `File-system recovery stops the app and replaces ${source!.paths.join(', ')} (the old tree is kept).`,
    !!flags.yes,
  )
  const r = await fsRecovery(site, source!, o, ctx.audit)
  if (flags.json) return printJson(r)
  process.stdout.write(
    `file-system recovery done: the app serves ${r.healthUrl}\n${r.steps.map((s) => `  ${s}`).join('\n')}\n`,
  )
})
