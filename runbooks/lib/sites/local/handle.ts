/**
 * A handle on the local site: where it lives (layout), the DR policy, the process runner and
 * the adapters bound to this site, plus its state. Every site module takes one; LocalSite
 * (site.ts) adds the operations.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { walkFiles } from '../../adapters/process.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import type { Runner } from '../../adapters/exec.ts'
import type { Conn } from '../../adapters/postgres.ts'
import { Postgres } from '../../adapters/postgres.ts'
import { PgBackRest } from '../../adapters/pgbackrest.ts'
import type { RepoAccess } from '../ports.ts'
import { DATABASE, STANZA, type Layout, type NodeName } from './layout.ts'
import { siteInventory } from './inventory.ts'
import { readState, siteExists, writeState, type SiteState } from './state.ts'

export class SiteHandle {
  readonly pg: Postgres
  readonly br: PgBackRest
  /** the repos, as a procedure takes them (sites/ports.ts) */
  readonly repos: RepoAccess

  /** every command run for this site finds its password file (libpq's PGPASSFILE) */
  readonly run: Runner

  constructor(
    readonly layout: Layout,
    readonly policy: DrPolicy,
    run: Runner,
  ) {
    this.run = (cmd, args, opts = {}) =>
      run(cmd, args, { ...opts, env: { PGPASSFILE: layout.secrets.pgpass, ...opts.env } })
    this.pg = new Postgres(this.run)
    this.br = new PgBackRest(this.run, {
      config: layout.pgbackrest.conf,
      includePath: layout.secrets.dir,
      stanza: STANZA,
    })
    this.repos = { br: this.br, restoreSpool: join(layout.scratchDir, 'restore-spool') }
  }

  exists(): boolean {
    return siteExists(this.layout)
  }

  state(): SiteState {
    return readState(this.layout)
  }

  /** Save the state and the inventory derived from it. */
  saveState(state: SiteState): void {
    writeState(this.layout, state)
    writeFileSync(this.layout.inventoryFile, JSON.stringify(siteInventory(this.layout, state), null, 2) + '\n')
  }

  port(node: NodeName): number {
    return this.layout.ports[node]
  }

  conn(node: NodeName, database = DATABASE): Conn {
    return { host: '127.0.0.1', port: this.port(node), database, passfile: this.layout.secrets.pgpass }
  }

  /** The newest moment repo1's archive is known to hold: the mtime of its newest WAL file (null: none). */
  newestArchivedAt(): number | null {
    const root = join(this.layout.pgbackrest.repo1, 'archive', STANZA)
    if (!existsSync(root)) return null
    const wal = walkFiles(root).filter((f) => /^[0-9A-F]{24}-/.test(basename(f)))
    return wal.length ? Math.max(...wal.map((f) => statSync(f).mtimeMs)) : null
  }

  endpointConn(database = DATABASE): Conn {
    return { host: '127.0.0.1', port: this.layout.ports.endpoint, database, passfile: this.layout.secrets.pgpass }
  }
}
