#!/usr/bin/env zx
// The DR drill on the local site at the guide's levels: monthly, quarterly, annual.
import { anchorAuditWith } from './lib/output/audit.ts'
import { anchorAuditHead } from './lib/sites/local/audit-anchor.ts'
import { inputError } from '../core/errors.ts'
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { printJson } from './lib/output/log.ts'
import { loadPolicyFor, localLayout, auditFor } from './lib/cli/stack.ts'
import { LocalSite } from './lib/sites/local/site.ts'
import { acquireSiteLock } from './lib/sites/local/lock.ts'
import { parseScale } from './lib/cli/flags.ts'
import { renderStatus } from './lib/sites/local/render.ts'
import { run } from './lib/adapters/exec.ts'
import { runDrill } from './lib/ops/drill/drill.ts'
import { parseLevel, parseRate } from './lib/cli/flags.ts'
import { siteWebhooks } from './lib/sites/local/secrets.ts'
import { writeReport } from './lib/ops/report/report.ts'

const spec = {
  name: 'drill.ts',
  summary:
    "the DR drill on the real local site at the guide's levels. monthly: back up, prove the newest backup of every repo, PITR after a human error, fail over to hot under load and back. quarterly adds a manual failover to warm and back and a test message to every channel of the communication plan; annual adds a cold-site rebuild from repo 2 alone and the compliance report. Prints a verdict per measure and per objective; exits 1 on any miss",
  usage:
    'npm run drill [-- --level monthly|quarterly|annual] [--scale N] [--rate R] [--skip-failover] [--out DIR] [--keep] [--json]',
  resume:
    'npx zx runbooks/local.ts status shows what is left; local.ts up repairs the site, failback.ts rejoins a fenced node; then run the drill again',
  flags: {
    ...HELP_FLAG,
    level: { type: 'string', help: 'monthly (default), quarterly or annual: what the guide tests at each' },
    out: { type: 'string', help: "annual: where the compliance report goes (default: the site's reports directory)" },
    scale: { type: 'string', help: 'data set size if the site is new: 1 = about 1 GB (default 0.05)' },
    rate: { type: 'string', help: 'workload commits per second (default 50)' },
    'base-port': { type: 'string', help: 'first port of a new site (default 25400)' },
    'skip-failover': { type: 'boolean', help: 'leave out the failovers to hot and warm' },
    keep: { type: 'boolean', help: 'keep the scratch restore running for inspection' },
    json: { type: 'boolean', help: 'print the drill report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const level = parseLevel(flags.level)
  const policy = loadPolicyFor('local')
  const site = new LocalSite(localLayout(flags['base-port']), policy, run)
  // every input read before the drill starts (and records anything): a refusal leaves no FAILED drill
  const scale = parseScale(flags.scale, 0.05)
  const rate = parseRate(flags.rate)
  if (site.exists() && site.state().basePort !== site.layout.basePort)
    throw inputError(
      '--base-port',
      flags['base-port'],
      `the site in ${site.layout.stateDir} was created with base port ${site.state().basePort}`,
      `drop --base-port (or pass --base-port ${site.state().basePort})`,
    )
  const hooks = siteWebhooks(site) // validated before anything changes
  await acquireSiteLock(site.layout, 'drill.ts')
  const audit = auditFor('drill.ts', 'local')
  anchorAuditWith(() => anchorAuditHead(site.layout, audit.file))
  const report = await runDrill(site, audit, {
    level,
    hooks,
    writeReport: async () => (await writeReport(site, { out: flags.out, auditFile: audit.file })).html,
    scale,
    rate,
    failover: !flags['skip-failover'],
    keep: !!flags.keep,
    onHealth: (s) => !flags.json && process.stdout.write(renderStatus(s)),
  })
  if (flags.json) printJson(report)
  else process.stdout.write(report.text)
  return report.ok ? 0 : 1
})
