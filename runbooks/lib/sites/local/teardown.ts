/** Taking the site down: everything it started, stopped by pid; and deleting it. */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { stopBouncer } from '../../adapters/pgbouncer.ts'
import { postmasterPid } from '../../adapters/postgres.ts'
import { processesWith, waitFor } from '../../adapters/process.ts'
import { stopS3 } from '../../adapters/s3-server.ts'
import type { SiteHandle } from './handle.ts'
import { NODE_NAMES } from './layout.ts'
import { stopMonitoring } from './monitoring.ts'
import type { Change } from './state.ts'
import { stopScheduler } from './scheduler.ts'
import { stopWriter } from './workload.ts'
import { stopApp } from './app.ts'

/** Stop everything the site started, by pid: the writer, the endpoint, the nodes (standbys first), scratch clusters, S3. */
export async function down(site: SiteHandle): Promise<Change[]> {
  const { layout } = site
  const changes: Change[] = []
  if (await stopScheduler(layout)) changes.push('stopped the scheduler')
  changes.push(...(await stopMonitoring(site)))
  if (await stopWriter(layout)) changes.push('stopped the workload writer')
  if (await stopApp(layout)) changes.push('stopped the LabDojo app')
  if (await stopBouncer(layout.pgbouncer)) changes.push('stopped PgBouncer')
  // standbys first, so the primary's shutdown checkpoint is not waiting on them
  const state = site.exists() ? site.state() : undefined
  const order = state ? [...NODE_NAMES.filter((n) => n !== state.primary), state.primary] : [...NODE_NAMES]
  for (const n of order) {
    if (!postmasterPid(layout.node(n).data)) continue
    await site.pg.stop(layout.node(n).data, 'fast')
    changes.push(`stopped ${n}`)
  }
  for (const dir of listDirs(layout.scratchDir)) {
    if (!postmasterPid(dir)) continue
    await site.pg.stop(dir, 'fast')
    changes.push(`stopped scratch cluster ${dir}`)
  }
  const shippers = await stopOffsiteShippers(layout)
  if (shippers) changes.push(`stopped ${shippers} offsite WAL shipper process(es) (the queue ships on the next up)`)
  if (await stopS3(layout.s3)) changes.push('stopped s3rver')
  return changes
}

/**
 * The repo2 lane's shipper (and the pgBackRest push it runs) can outlive the nodes by the length
 * of an S3 retry. S3 still runs here: give a shipper a few seconds to finish the queue, then stop
 * what is left of this site's, by pid; those files stay queued and `up` ships them.
 */
async function stopOffsiteShippers(layout: SiteHandle['layout']): Promise<number> {
  const mine = (argv: string[]) =>
    argv.some((a) => a.includes(layout.pgbackrest.dir)) &&
    (argv.some((a) => a.endsWith('labdojo-pgbackrest-wal')) || argv.some((a) => a.endsWith('pgbackrest')))
  await waitFor('the offsite shippers to finish', async () => processesWith(mine).length === 0, 10_000).catch(() => {})
  const pids = processesWith(mine)
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig)
    } catch {
      // it ended between the listing and the signal
    }
  }
  for (const pid of pids) signal(pid, 'SIGTERM')
  await waitFor('the offsite shippers to stop', async () => processesWith(mine).length === 0, 10_000).catch(() =>
    processesWith(mine).forEach((pid) => signal(pid, 'SIGKILL')),
  )
  return pids.length
}

/** Delete the site's state and secrets (after down). */
export function purge(site: SiteHandle): void {
  const { layout } = site
  rmSync(layout.stateDir, { recursive: true, force: true })
  rmSync(layout.secrets.dir, { recursive: true, force: true })
  if (layout.socketDir.startsWith('/tmp/labdojo-')) rmSync(layout.socketDir, { recursive: true, force: true })
}

/** A fast reachability check of a repo's storage (for writing: backups, archiving); undefined when usable. */

function listDirs(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .map((d) => join(dir, d))
    .filter((d) => statSync(d).isDirectory())
}
