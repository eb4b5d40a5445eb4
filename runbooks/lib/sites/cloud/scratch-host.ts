/**
 * This machine as a cloud stack's scratch host (sites/ports.ts): the cold site's path and the
 * vault proofs restore here. The restored cluster runs with a configuration of its own (the
 * source's postgresql.conf names paths of its pods: TLS files, Patroni's hba), listens on
 * 127.0.0.1 (scram, the restored roles' passwords) and on a 0700 socket directory of the site
 * user (trust: only that user and root reach it).
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inputError } from '../../../../core/errors.ts'
import type { Runner } from '../../adapters/exec.ts'
import { portFree } from '../../adapters/net.ts'
import { Postgres } from '../../adapters/postgres.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import type { ScratchCluster, ScratchHost } from '../ports.ts'

/** Where a restored cluster's socket is: a 0700 directory of the site user. */
export const coldSocketDir = (port: number) => `/tmp/labdojo-cold-restore-${port}`

/** The ports a cloud restore takes by default. */
export const CLOUD_RESTORE_PORTS = { first: 55432, last: 55531 }

export function cloudScratchHost(run: Runner): ScratchHost {
  return {
    pg: new Postgres(run),
    settle: (c) => {
      mkdirForSiteUser(coldSocketDir(c.port), 0o700)
      return `-c config_file=${writeLocalConfig(c)}`
    },
    conn: (c, database = 'postgres') => ({ host: coldSocketDir(c.port), port: c.port, database }),
    release: (c) => rmSync(coldSocketDir(c.port), { recursive: true, force: true }),
  }
}

/** A cluster restored into `into` on `port` (durably: it is the user's). */
export const cloudScratch = (into: string, port: number, name = `cold-restore-${port}`): ScratchCluster => ({
  dir: into,
  port,
  logFile: join(into, 'restore.log'),
  name,
  synced: true,
  env: {},
})

/** `port`, free; else the first free port of the range. */
export async function cloudScratchPort(port: number | undefined): Promise<number> {
  if (port !== undefined) {
    if (!(await portFree(port)))
      throw inputError('--port', port, `127.0.0.1:${port} is already in use`, 'pick a free port')
    return port
  }
  for (let p = CLOUD_RESTORE_PORTS.first; p <= CLOUD_RESTORE_PORTS.last; p++) if (await portFree(p)) return p
  throw inputError(
    '--port',
    undefined,
    `every port ${CLOUD_RESTORE_PORTS.first}..${CLOUD_RESTORE_PORTS.last} is taken`,
    'pass --port',
  )
}

/** A configuration of the restored cluster's own: nothing of the source's pods is needed to start. */
function writeLocalConfig(c: ScratchCluster): string {
  const file = join(c.dir, 'labdojo-restore.conf')
  writeFileSync(
    file,
    [
      `# written by labdojo-dr restore.ts: this machine's settings (the source's postgresql.conf names its pods' paths)`,
      `port = ${c.port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${coldSocketDir(c.port)}'`,
      `hba_file = '${join(c.dir, 'pg_hba.conf')}'`,
      `ident_file = '${join(c.dir, 'pg_ident.conf')}'`,
      `archive_mode = off`,
      `ssl = off`,
      `hot_standby = on`,
      `max_connections = 100`,
      `cluster_name = '${c.name}'`,
      ...(c.synced ? [] : ['fsync = off']),
      '',
    ].join('\n'),
    { mode: 0o600 },
  )
  writeFileSync(join(c.dir, 'pg_hba.conf'), `local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n`, {
    mode: 0o600,
  })
  writeFileSync(join(c.dir, 'pg_ident.conf'), '', { mode: 0o600 })
  for (const f of [file, join(c.dir, 'pg_hba.conf'), join(c.dir, 'pg_ident.conf')]) giveToSiteUser(f)
  return file
}
