/** Before `up` changes anything: every binary installed, every port free (all problems at once, exit 2). */
import { existsSync } from 'node:fs'
import { InputError, type Problem } from '../../../../core/errors.ts'
import { isRoot, which } from '../../adapters/exec.ts'
import { portFree } from '../../adapters/net.ts'
import { bouncerRunning } from '../../adapters/pgbouncer.ts'
import { pgBin, postmasterPid } from '../../adapters/postgres.ts'
import { s3Running } from '../../adapters/s3-server.ts'
import type { SiteHandle } from './handle.ts'
import { NODE_NAMES } from './layout.ts'

export const REQUIRED_BINARIES = [
  'initdb',
  'pg_ctl',
  'postgres',
  'pg_basebackup',
  'pg_rewind',
  'pg_waldump',
  'pg_dump',
  'pg_restore',
] as const
export const APT_HINT = 'apt-get install -y postgresql-15 pgbackrest pgbouncer openssl'

/** Every binary the site needs; all missing ones are reported at once. */
export async function checkBinaries(): Promise<void> {
  const missing: string[] = []
  for (const b of REQUIRED_BINARIES) if (!existsSync(pgBin(b))) missing.push(pgBin(b))
  for (const b of ['pgbackrest', 'pgbouncer', 'openssl']) if (!(await which(b))) missing.push(b)
  if (missing.length)
    throw new InputError('missing binaries', [
      {
        key: 'PATH',
        value: missing,
        message: 'required programs are not installed',
        fix: isRoot() ? APT_HINT : `as root: ${APT_HINT}`,
      },
    ])
}

/** Ports the site needs that something else holds (ports held by our own running parts are fine). */
export async function checkPorts(site: SiteHandle): Promise<void> {
  const { layout } = site
  const ours = new Set<number>()
  if (site.exists()) {
    for (const n of NODE_NAMES) if (postmasterPid(layout.node(n).data)) ours.add(site.port(n))
    if (bouncerRunning(layout.pgbouncer)) ours.add(layout.ports.endpoint)
    if (s3Running(layout.s3)) ours.add(layout.ports.s3)
  }
  const wanted: [string, number][] = [
    ['endpoint (PgBouncer)', layout.ports.endpoint],
    ['node1', layout.ports.node1],
    ['node2', layout.ports.node2],
    ['node3', layout.ports.node3],
    ['s3', layout.ports.s3],
  ]
  const problems: Problem[] = []
  for (const [what, port] of wanted) {
    if (ours.has(port) || (await portFree(port))) continue
    problems.push({
      key: `port ${port}`,
      value: what,
      message: `127.0.0.1:${port} is already in use by another process`,
      fix: `stop that process or pick another range with --base-port (the site uses ${layout.basePort}..${layout.basePort + 19})`,
    })
  }
  if (problems.length) throw new InputError('ports taken', problems)
}
