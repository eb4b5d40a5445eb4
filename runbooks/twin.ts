#!/usr/bin/env zx
// The cloud twin: a stack's PGO clusters on real Patroni, etcd and TLS-only PostgreSQL, each site
// in its own network namespace: up | status | down. Needs root (network namespaces).
import { join } from 'node:path'
import { HELP_FLAG, REPO_ROOT, runbook, confirm } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { inputError } from '../core/errors.ts'
import { auditFor } from './lib/cli/stack.ts'
import { parseBasePort } from './lib/cli/flags.ts'
import { isRoot, run } from './lib/adapters/exec.ts'
import { inventoryFiles, loadTwin, twinDown, twinStatus, twinUp, type SiteReport } from './lib/sites/twin/twin.ts'

const spec = {
  name: 'twin.ts',
  summary:
    "run a stack's PostgreSQL clusters as PGO would, on real Patroni, etcd and PostgreSQL, each site a network host",
  usage: 'npx zx runbooks/twin.ts up|status|down [--stack prod|all] [--base-port P] [--json] [--purge --yes]',
  resume: 're-run the same command: up starts only what is missing, down stops only what runs',
  positionals: ['up', 'status', 'down'],
  flags: {
    ...HELP_FLAG,
    stack: {
      type: 'string',
      help: 'prod, or all: prod and dr together (dr reads prod: its warm cluster replays the replica vault Storage Transfer copies into GCS)',
    },
    'base-port': {
      type: 'string',
      help: "picks the twin's private addresses, 10.(100 + P/100 mod 100).0.0/16 (default 27700)",
    },
    purge: { type: 'boolean', help: "down: also delete the twin's state (data, certificates, passwords)" },
    yes: { type: 'boolean', help: 'confirm --purge without asking' },
    json: { type: 'boolean', help: 'status: machine-readable output' },
  },
} as const

function print(status: SiteReport[], json: boolean): void {
  if (json) return printJson(status)
  for (const s of status) {
    const members = (s.members ?? []).map((m) => `${m.name} ${m.role} ${m.state}`).join(', ')
    log.info(`${s.site} (${s.region}, ${s.namespace}) service ${s.service}: ${members || 'no answer'}`)
  }
}

await runbook(spec, import.meta.url, async ({ flags, positionals }) => {
  const [cmd, ...rest] = positionals
  if (!cmd || !(spec.positionals as readonly string[]).includes(cmd) || rest.length)
    throw inputError(
      'command',
      positionals.join(' ') || '(none)',
      'expected exactly one of up, status, down',
      'e.g. npx zx runbooks/twin.ts up --stack prod',
    )
  const stack = flags.stack ?? 'prod'
  if (stack !== 'prod' && stack !== 'all')
    throw inputError(
      '--stack',
      stack,
      stack === 'dr'
        ? "dr cannot run alone: it reads prod's outputs and its warm cluster replays prod's replica vault"
        : 'must be prod or all',
      stack === 'dr' ? 'use --stack all (prod and dr together)' : 'use --stack prod or --stack all',
    )
  if (!isRoot())
    throw inputError('user', process.getuid?.(), 'the twin needs root (network namespaces)', 'run it as root')
  const basePort = parseBasePort(flags['base-port'] ?? '27700')
  const stateDir = process.env.LABDOJO_TWIN_DIR ?? join(REPO_ROOT, '.state', `twin-${stack}`)
  const out = process.env.LABDOJO_TWIN_OUT ?? join(REPO_ROOT, 'out', `twin-${stack}.json`)
  const audit = auditFor('twin.ts', stack)

  if (cmd === 'up') {
    const t0 = Date.now()
    const twin = await audit.step('up', () => twinUp(run, { stack, stateDir, basePort, out }), { basePort })
    const files = Object.values(inventoryFiles(twin, out)).join(', ')
    log.info(
      `twin of ${stack} up in ${((Date.now() - t0) / 1000).toFixed(1)} s; inventory: ${files}; passwords: ${twin.layout.passFile} (PGPASSFILE)`,
    )
    const status = await twinStatus(twin)
    print(status, !!flags.json)
    return 0
  }
  const twin = loadTwin(stateDir)
  if (!twin) {
    log.info(`no twin in ${stateDir}`)
    return cmd === 'down' ? 0 : 1
  }
  if (cmd === 'status') {
    const status = await twinStatus(twin)
    print(status, !!flags.json)
    return status.every((s) => s.members?.some((m) => m.state === 'running')) ? 0 : 1
  }
  if (flags.purge)
    await confirm(`This deletes the twin in ${stateDir}: its data, certificates and passwords.`, !!flags.yes)
  await audit.step('down', () => twinDown(run, twin, { purge: !!flags.purge }), { purge: !!flags.purge })
  log.info(`twin of ${twin.rendered.stack} down${flags.purge ? ', state deleted' : ''}`)
  return 0
})
