/**
 * The traffic endpoint (PgBouncer): the only writer of its routing. It points at the primary,
 * or nowhere (fenced: clients queue, then get errors, never a stale primary).
 */
import { existsSync, readFileSync } from 'node:fs'
import { bouncerRunning, startBouncer, switchTarget, writeIni } from '../../adapters/pgbouncer.ts'
import { pgbouncerIni } from './config-files.ts'
import type { SiteHandle } from './handle.ts'
import type { NodeName } from './layout.ts'

/** Point the endpoint at a node, or fence it (undefined: route nowhere, clients queue). */
export async function routeEndpoint(site: SiteHandle, target: NodeName | undefined): Promise<void> {
  const { layout } = site
  const ini = pgbouncerIni(layout, target ? site.port(target) : undefined)
  await switchTarget(layout.pgbouncer, layout.ports.endpoint, ini, target === undefined)
}

/** Start the endpoint, or re-point it, when it does not route to the primary; the change made, if any. */
export async function ensureEndpoint(site: SiteHandle, primary: NodeName): Promise<string | undefined> {
  const { layout } = site
  const ini = pgbouncerIni(layout, site.port(primary))
  const current = existsSync(layout.pgbouncer.ini) ? readFileSync(layout.pgbouncer.ini, 'utf8') : ''
  const running = bouncerRunning(layout.pgbouncer)
  if (current === ini && running) return undefined
  if (running) await switchTarget(layout.pgbouncer, layout.ports.endpoint, ini)
  else {
    writeIni(layout.pgbouncer, ini)
    await startBouncer(site.run, layout.pgbouncer, layout.ports.endpoint)
  }
  return `${running ? 'reconfigured' : 'started'} the PgBouncer endpoint 127.0.0.1:${layout.ports.endpoint} -> ${primary}`
}
