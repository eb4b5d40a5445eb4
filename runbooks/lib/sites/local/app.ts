/**
 * The LabDojo application of the local site (a stand-in: `node dist/server.js` from the source
 * checkout, answering /health on 127.0.0.1): started, stopped by pid, health-checked.
 */
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pidAlive, readPid, startDetached, stopPid, waitFor } from '../../adapters/process.ts'
import type { Layout } from './layout.ts'

const MARK = 'dist/server.js'

export function appRunning(layout: Layout): number | undefined {
  const pid = readPid(layout.app.pid)
  return pidAlive(pid, MARK) ? pid : undefined
}

export async function stopApp(layout: Layout): Promise<boolean> {
  return stopPid(readPid(layout.app.pid), MARK)
}

export function startApp(layout: Layout): number {
  mkdirSync(dirname(layout.app.pid), { recursive: true })
  return startDetached(process.execPath, [MARK], {
    log: layout.app.log,
    pidFile: layout.app.pid,
    cwd: join(layout.app.root, 'source'),
    env: { PORT: String(layout.app.port), NODE_OPTIONS: '', npm_config_node_options: '' },
  })
}

/** GET /health until it answers ok (or the wait ends): the version it serves. */
export async function appHealthy(layout: Layout, timeoutMs = 30_000): Promise<string> {
  const url = `http://127.0.0.1:${layout.app.port}/health`
  return waitFor(
    `${url} to answer ok`,
    async () => {
      const r = await fetch(url)
      const body = (await r.json()) as { status?: string; version?: string }
      return r.ok && body.status === 'ok' && body.version ? body.version : undefined
    },
    timeoutMs,
    100,
  )
}
