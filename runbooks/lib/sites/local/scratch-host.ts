/**
 * The local site as a scratch host (sites/ports.ts): clusters restored under its scratch
 * directory on the scratch ports, reached over TCP with the site's password file, started with
 * the site's hba and without archiving or synchronous waits.
 */
import { join } from 'node:path'
import { inputError } from '../../../../core/errors.ts'
import { unsyncedEnv } from '../../adapters/eatmydata.ts'
import { portFree } from '../../adapters/net.ts'
import { stamp } from '../../adapters/process.ts'
import type { ScratchCluster, ScratchHost } from '../ports.ts'
import type { SiteHandle } from './handle.ts'
import { DATABASE, type Layout } from './layout.ts'
import { writeHba } from './node-settings.ts'

/** Server options of a restored cluster: its own port and name, no archiving, no synchronous waits. */
export const restoredClusterOptions = (port: number, name: string, socketDir: string) =>
  `-p ${port} -c archive_mode=off -c cluster_name=${name} -c synchronous_standby_names= -c unix_socket_directories=${socketDir} -c hot_standby=on`

export function localScratchHost(site: SiteHandle): ScratchHost {
  return {
    pg: site.pg,
    settle: (c) => {
      writeHba(c.dir) // the backup may carry an older pg_hba.conf
      const options = restoredClusterOptions(c.port, c.name, site.layout.socketDir)
      return c.synced ? options : `${options} -c fsync=off`
    },
    conn: (c, database = DATABASE) => ({
      host: '127.0.0.1',
      port: c.port,
      database,
      passfile: site.layout.secrets.pgpass,
    }),
  }
}

export async function freeScratchPort(layout: Layout): Promise<number> {
  const { scratchFirst, scratchLast } = layout.ports
  for (let p = scratchFirst; p <= scratchLast; p++) if (await portFree(p)) return p
  throw inputError(
    '--port',
    undefined,
    `every scratch port ${scratchFirst}..${scratchLast} is taken`,
    'stop an old restore (local.ts down stops them) or pass --port',
  )
}

/**
 * A scratch cluster of the local site: `kind-<stamp>-<port>` under its scratch directory (or
 * `into`), on the first free scratch port (or `port`). One not `synced` is restored under
 * eatmydata and runs with fsync off: it is thrown away once read.
 */
export async function localScratch(
  layout: Layout,
  kind: string,
  o: { port?: number; into?: string; synced: boolean; logName?: string },
): Promise<ScratchCluster> {
  const port = o.port ?? (await freeScratchPort(layout))
  const dir = o.into ?? join(layout.scratchDir, `${kind}-${stamp()}-${port}`)
  return {
    dir,
    port,
    logFile: join(dir, o.logName ?? `${kind}.log`),
    name: `${kind}-${port}`,
    synced: o.synced,
    env: o.synced ? {} : unsyncedEnv(),
  }
}
