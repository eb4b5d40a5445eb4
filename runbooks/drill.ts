#!/usr/bin/env zx
// The DR drill on the local site: up, back up, steady workload, human error + PITR, failover.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { printJson } from './lib/output/log.ts'
import { loadPolicyFor, localLayout, auditFor } from './lib/cli/stack.ts'
import { LocalSite } from './lib/sites/local/site.ts'
import { acquireSiteLock } from './lib/sites/local/lock.ts'
import { parseScale } from './lib/cli/flags.ts'
import { renderStatus } from './lib/sites/local/render.ts'
import { run } from './lib/adapters/exec.ts'
import { runDrill } from './lib/ops/drill/drill.ts'
import { parseRate } from './lib/cli/flags.ts'

const spec = {
  name: 'drill.ts',
  summary:
    "the DR drill on the real local site: bring it up, back it up, run a workload, recover from a human error by PITR, fail over; prints each step's time and the measured RTO/RPO",
  usage: 'npm run drill [-- --scale N] [--rate R] [--skip-failover] [--keep] [--json]',
  resume:
    'npx zx runbooks/local.ts status shows what is left; local.ts up repairs the site, failback.ts rejoins a fenced node; then run the drill again',
  flags: {
    ...HELP_FLAG,
    scale: { type: 'string', help: 'data set size if the site is new: 1 = about 1 GB (default 0.05)' },
    rate: { type: 'string', help: 'workload commits per second (default 50)' },
    'base-port': { type: 'string', help: 'first port of a new site (default 25400)' },
    'skip-failover': { type: 'boolean', help: 'only the backup and PITR parts' },
    keep: { type: 'boolean', help: 'keep the scratch restore running for inspection' },
    json: { type: 'boolean', help: 'print the drill report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const policy = loadPolicyFor('local')
  const site = new LocalSite(localLayout(flags['base-port']), policy, run)
  await acquireSiteLock(site.layout, 'drill.ts')
  const report = await runDrill(site, auditFor('drill.ts', 'local'), {
    scale: parseScale(flags.scale, 0.05),
    rate: parseRate(flags.rate),
    failover: !flags['skip-failover'],
    keep: !!flags.keep,
    onHealth: (s) => !flags.json && process.stdout.write(renderStatus(s)),
  })
  if (flags.json) printJson(report)
  else process.stdout.write(report.text)
  return report.ok ? 0 : 1
})
