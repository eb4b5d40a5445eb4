#!/usr/bin/env zx
// The workload writer: start | stop | status | verify (count acknowledged commits lost on the primary).
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { requireLocal } from './lib/cli/stack.ts'
import { acked, lostCommits, startWriter, stopWriter, writerRunning } from './lib/sites/local/workload.ts'
import { parseRate } from './lib/cli/flags.ts'
import { inputError } from '../core/errors.ts'

const spec = {
  name: 'workload.ts',
  summary: 'a steady writer through the endpoint that records every acknowledged commit; verify counts what is missing',
  usage: 'npx zx runbooks/workload.ts start [--rate R] | stop | status | verify [--json]',
  positionals: ['start', 'stop', 'status', 'verify'],
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    rate: { type: 'string', help: 'commits per second (default 50)' },
    json: { type: 'boolean', help: 'JSON output' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags, positionals }) => {
  const [cmd] = positionals
  if (!cmd || positionals.length !== 1 || !(spec.positionals as readonly string[]).includes(cmd))
    throw inputError(
      'command',
      positionals.join(' ') || '(none)',
      'expected one of start, stop, status, verify',
      'e.g. workload.ts start --rate 50',
    )
  const ctx = await loadStack('workload.ts', flags)
  const site = requireLocal(ctx, 'workload.ts')
  if (cmd === 'start') {
    const id = await ctx.audit.step('workload start', () => startWriter(site.layout, parseRate(flags.rate)))
    return void (flags.json ? printJson({ writer: id }) : log.info(`writer ${id} started`))
  }
  if (cmd === 'stop')
    return void log.info(
      (await ctx.audit.step('workload stop', () => stopWriter(site.layout)))
        ? 'writer stopped'
        : 'no writer was running',
    )
  const acks = acked(site.layout)
  if (cmd === 'status')
    return void (flags.json
      ? printJson({ running: writerRunning(site.layout), acked: acks.length })
      : log.info(`${writerRunning(site.layout) ? 'running' : 'stopped'}, ${acks.length} acknowledged commits recorded`))
  const lost = await lostCommits(site.endpointConn(), acks)
  if (flags.json) printJson({ acked: acks.length, lost: lost.length, lostSample: lost.slice(0, 10) })
  else process.stdout.write(`${acks.length} acknowledged commits, ${lost.length} missing on the primary\n`)
  return lost.length ? 1 : 0
})
