#!/usr/bin/env zx
// The DR exporter: Prometheus metrics of a site (see README "Monitoring").
import { createServer } from 'node:http'
import { isIPv4 } from 'node:net'
import { inputError } from '../core/errors.ts'
import { CLOUD_EXPORTER_PORT } from '../core/alerts.ts'
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { parsePort } from './lib/cli/flags.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { run } from './lib/adapters/exec.ts'
import { log } from './lib/output/log.ts'
import { Exporter } from './lib/ops/monitor/exporter.ts'
import { localSource } from './lib/ops/monitor/source.ts'
import { cloudSource } from './lib/ops/monitor/cloud-source.ts'

const spec = {
  name: 'monitor.ts',
  summary:
    "serve a site's DR metrics for Prometheus (/metrics): backups, WAL archiving, recoverable points, storage, offsite queue, replication, endpoint, proofs, drills, failovers. Reads in the background; a scrape answers from the last reading. The local site by default; a cloud stack from its inventory (--stack prod|dr --inventory FILE: the nodes over libpq, the vaults with pgBackRest, PGO's backup jobs). --once prints them and exits",
  usage: 'npx zx runbooks/monitor.ts [--stack local|prod|dr] [--inventory FILE] [--port P] [--listen ADDR] [--once]',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    port: {
      type: 'string',
      help: `port (default: the local site's exporter port, base + 5; ${CLOUD_EXPORTER_PORT} for a cloud stack)`,
    },
    listen: {
      type: 'string',
      help: 'IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 inside a pod, for Prometheus to reach)',
    },
    once: { type: 'boolean', help: 'read once, print the metrics, exit' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const listen = flags.listen ?? '127.0.0.1'
  if (!isIPv4(listen))
    throw inputError('--listen', listen, 'must be an IPv4 address', 'e.g. --listen 127.0.0.1 (or 0.0.0.0 in a pod)')
  const ctx = await loadStack('monitor.ts', flags)
  const source = ctx.site ? localSource(ctx.site, ctx.audit.file) : cloudSource(ctx.inventory, ctx.policy, run)
  const port = parsePort(flags.port, CLOUD_EXPORTER_PORT) ?? ctx.site?.layout.ports.exporter ?? CLOUD_EXPORTER_PORT
  const exporter = new Exporter(source)
  if (flags.once) {
    await Promise.all([exporter.refreshStatus(), exporter.refreshCatalog()])
    return void process.stdout.write(await exporter.metrics())
  }
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end('see /metrics\n')
    exporter
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': exporter.registry.contentType }).end(text))
      .catch((e: Error) => res.writeHead(500).end(`${e.message}\n`))
  })
  // the port first: a taken one is bad input, before any refresh loop could keep the process alive
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE' || e.code === 'EACCES'
          ? inputError(
              '--port',
              port,
              e.code === 'EADDRINUSE' ? `is already in use on ${listen}` : `cannot be bound on ${listen}`,
              'pick a free port, or stop what holds it',
            )
          : e,
      ),
    )
    server.listen(port, listen, () => resolve())
  })
  await exporter.start()
  log.info(`serving http://${listen}:${port}/metrics (${ctx.stack})`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      exporter.stop()
      server.close(() => resolve())
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
  // a stopped exporter ends now: a catalog still in flight (a cut-off vault is retried for
  // minutes) must not outlive the pod's grace period, or its scratch directory outlives the
  // process (adapters/scratch.ts removes it on exit); it only ever read
  setTimeout(() => process.exit(), 0).unref()
})
