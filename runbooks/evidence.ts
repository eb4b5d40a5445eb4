#!/usr/bin/env zx
// The evidence ledger: verify its chain and offsite copy, record a human sign-off, list what is due.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { inputError } from '../core/errors.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { log, printJson } from './lib/output/log.ts'
import { parseSignoff, signOff, signoffStatus, verifyLedger } from './lib/ops/evidence/ledger.ts'

const spec = {
  name: 'evidence.ts',
  summary:
    'the evidence ledger (proofs, sign-offs): verify finds any altered, removed or reordered record (chain and offsite copy); sign records a human sign-off; due lists the sign-offs due',
  usage: 'npx zx runbooks/evidence.ts verify | sign --item ITEM --by NAME [--note TEXT] | due [--json]',
  positionals: ['verify', 'sign', 'due'],
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    item: { type: 'string', help: 'what is signed off (sign)' },
    by: { type: 'string', help: 'who signs it off (sign)' },
    note: { type: 'string', help: 'a note kept with the sign-off (sign)' },
    json: { type: 'boolean', help: 'machine-readable output' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags, positionals }) => {
  const action = positionals[0]
  if (!['verify', 'sign', 'due'].includes(action ?? ''))
    throw inputError('action', action, 'must be verify, sign or due', 'e.g. npx zx runbooks/evidence.ts verify')
  const signoff = action === 'sign' ? parseSignoff(flags.item, flags.by) : undefined
  if (flags.note?.includes('\uFFFD'))
    throw inputError('--note', flags.note, 'holds bytes that are not UTF-8', 'write the note in readable text')
  const ctx = await loadStack('evidence.ts', flags, { lock: action === 'sign' })
  const site = requireLocal(ctx, 'evidence.ts')
  if (signoff) {
    const offsite = await ctx.audit.step(`sign off ${signoff.item}`, () =>
      signOff(site, signoff.item, signoff.by, flags.note),
    )
    log.info(`signed off ${signoff.item} by ${signoff.by}; ${offsite}`)
    return 0
  }
  if (action === 'due') {
    const due = signoffStatus(site)
    if (flags.json) printJson({ due })
    else
      for (const d of due)
        process.stdout.write(
          `${d.overdue ? 'DUE ' : 'OK  '} ${d.item.padEnd(20)} ${d.every.padEnd(9)} last ${d.last ? `${d.last.at.slice(0, 10)} by ${d.last.by}` : 'never'}${d.due ? `, next by ${d.due.slice(0, 10)}` : ''}\n`,
        )
    return due.some((d) => d.overdue) ? 1 : 0
  }
  const check = await ctx.audit.step('verify evidence ledger', () => verifyLedger(site))
  if (flags.json) printJson(check)
  else
    process.stdout.write(
      check.ok
        ? `ledger intact: ${check.records} record(s), chain unbroken; offsite copy ${check.offsite}${check.offsiteRecords === null ? '' : ` (${check.offsiteRecords} record(s))`}\n`
        : `LEDGER ALTERED:\n${check.problems.map((p) => `  - ${p}`).join('\n')}\n`,
    )
  return check.ok ? 0 : 1
})
