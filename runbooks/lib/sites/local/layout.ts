/**
 * Where the local site lives and which ports it uses: pure functions of the state directory
 * and the base port, so every runbook agrees without asking a running process.
 */
import { s3ServerPaths } from '../../adapters/s3-server.ts'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { homedir } from 'node:os'
import { DATABASE, NODE_NAMES, type Layout, type NodeName } from '../local-port.ts'

export { DATABASE, NODE_NAMES }
export type { Layout, NodeName }

export const STANZA = 'labdojo'
export const BUCKET = 'labdojo-backups'
/** Below Linux's ephemeral range (32768-60999), so no client socket can hold one of our ports. */
export const DEFAULT_BASE_PORT = 25400

/** the site each node was provisioned for */
export const NODE_SITE = { node1: 'primary', node2: 'hot', node3: 'warm' } as const

/** The application tree, restic's repo1 repository, and the app's own process (port base+8). */
function appPaths(d: (...p: string[]) => string, basePort: number): Layout['app'] {
  const run = (f: string) => d('app-run', f)
  return { root: d('app'), restic1: d('repo1', 'restic'), port: basePort + 8, pid: run('app.pid'), log: run('app.log') }
}

/** Secrets live outside the repo, in the site user's home, 0600. */
export function secretsRoot(siteUserHome: string): string {
  return process.env.LABDOJO_SECRETS_DIR ?? join(siteUserHome, '.config', 'labdojo-dr')
}

function secretPaths(dir: string): Layout['secrets'] {
  return {
    dir,
    pgbackrest: join(dir, 'pgbackrest-secrets.conf'),
    pgpass: join(dir, 'pgpass'),
    bouncerUsers: join(dir, 'pgbouncer-users.txt'),
    restic: join(dir, 'restic-password'),
  }
}

/** The 20 ports from the base: endpoint, three nodes, monitoring, S3, and ten for scratch (restored) clusters. */
export function portsFrom(basePort: number): Layout['ports'] {
  return {
    endpoint: basePort,
    node1: basePort + 1,
    node2: basePort + 2,
    node3: basePort + 3,
    exporter: basePort + 5,
    prometheus: basePort + 6,
    alertmanager: basePort + 7,
    s3: basePort + 9,
    scratchFirst: basePort + 10,
    scratchLast: basePort + 19,
  }
}

/** A process the site starts: its directory, pid file and log. */
const daemonPaths = (dir: string, name: string) => ({
  dir,
  pid: join(dir, `${name}.pid`),
  log: join(dir, `${name}.log`),
})

function monitoringPaths(dir: string): Layout['monitoring'] {
  const file = (name: string) => join(dir, name)
  return {
    dir,
    exporter: { pid: file('exporter.pid'), log: file('exporter.log') },
    prometheus: {
      ...daemonPaths(dir, 'prometheus'),
      config: file('prometheus.yml'),
      rules: file('rules.yml'),
      data: file('prometheus-data'),
    },
    alertmanager: {
      ...daemonPaths(dir, 'alertmanager'),
      config: file('alertmanager.yml'),
      data: file('alertmanager-data'),
    },
  }
}

export function layout(stateDir: string, basePort: number, siteUserHome = homedir()): Layout {
  const siteId = createHash('sha256').update(stateDir).digest('hex').slice(0, 12)
  const d = (...p: string[]) => join(stateDir, ...p)
  // unix socket paths are limited to ~107 bytes
  const socketDir = d('run').length <= 80 ? d('run') : join('/tmp', `labdojo-${siteId}`)
  const secretsDir = join(secretsRoot(siteUserHome), siteId)
  return {
    stateDir,
    siteId,
    basePort,
    ports: portsFrom(basePort),
    siteFile: d('site.json'),
    inventoryFile: d('inventory.json'),
    auditFile: d('audit.log'),
    evidenceFile: d('evidence.jsonl'),
    erasureLedger: d('repo1', 'labdojo-erasures', 'erasures.jsonl'),
    socketDir,
    node: (name) => ({
      dir: d('nodes', name),
      data: d('nodes', name, 'data'),
      conf: d('nodes', name, 'node.conf'),
      log: d('nodes', name, 'postgres.log'),
    }),
    pgbackrest: {
      dir: d('pgbackrest'),
      conf: d('pgbackrest', 'pgbackrest.conf'),
      repo1Conf: d('pgbackrest', 'pgbackrest-repo1.conf'),
      repo2Conf: d('pgbackrest', 'pgbackrest-repo2.conf'),
      outbox: d('pgbackrest', 'repo2-outbox'),
      walScript: d('pgbackrest', 'labdojo-pgbackrest-wal'),
      log: d('pgbackrest', 'log'),
      lock: d('pgbackrest', 'lock'),
      spool: d('pgbackrest', 'spool'),
      repo1: d('repo1'),
    },
    s3: s3ServerPaths(d('s3')),
    pgbouncer: {
      dir: d('pgbouncer'),
      ini: d('pgbouncer', 'pgbouncer.ini'),
      users: secretPaths(secretsDir).bouncerUsers,
      passfile: secretPaths(secretsDir).pgpass,
      pid: d('pgbouncer', 'pgbouncer.pid'),
      log: d('pgbouncer', 'pgbouncer.log'),
    },
    workload: { ...daemonPaths(d('workload'), 'writer'), acks: d('workload', 'acks.log') },
    scheduler: daemonPaths(d('scheduler'), 'scheduler'),
    monitoring: monitoringPaths(d('monitoring')),
    scratchDir: d('scratch'),
    app: appPaths(d, basePort),
    secrets: secretPaths(secretsDir),
  }
}
