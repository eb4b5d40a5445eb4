#!/usr/bin/env zx
// The DR exporter: Prometheus metrics of the local site on 127.0.0.1 (see README "Monitoring").
import { createServer } from 'node:http'
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { parsePort } from './lib/cli/flags.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { log } from './lib/output/log.ts'
import { Exporter } from './lib/ops/monitor/exporter.ts'

const spec = {
  name: 'monitor.ts',
  summary:
    "serve the local site's DR metrics for Prometheus on 127.0.0.1 (/metrics): backups, WAL archiving, recoverable points, storage, offsite queue, replication, endpoint, proofs, drills, failovers. Reads in the background; a scrape answers from the last reading. --once prints them and exits",
  usage: 'npx zx runbooks/monitor.ts [--port P] [--once]',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    port: { type: 'string', help: "port on 127.0.0.1 (default: the site's exporter port, base + 5)" },
    once: { type: 'boolean', help: 'read once, print the metrics, exit' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const ctx = await loadStack('monitor.ts', flags)
  const site = requireLocal(ctx, 'monitor.ts')
  const port = parsePort(flags.port, site.layout.ports.exporter) ?? site.layout.ports.exporter
  const exporter = new Exporter(site, ctx.audit.file)
  if (flags.once) {
    await Promise.all([exporter.refreshStatus(), exporter.refreshCatalog()])
    return void process.stdout.write(await exporter.metrics())
  }
  await exporter.start()
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end('see /metrics\n')
    exporter
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': exporter.registry.contentType }).end(text))
      .catch((e: Error) => res.writeHead(500).end(`${e.message}\n`))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  log.info(`serving http://127.0.0.1:${port}/metrics`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      exporter.stop()
      server.close(() => resolve())
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
})
