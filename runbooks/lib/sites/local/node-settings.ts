/**
 * Node settings by role: the one place that says what a primary, a hot standby, a warm
 * standby and a fenced node run with, and the only writer of a node's node.conf,
 * standby.signal and (for a fresh initdb) postgresql.conf / pg_hba.conf. Per-node settings
 * live in node.conf beside, not inside, the data directory, so pg_rewind and restores, which
 * copy postgresql.conf and postgresql.auto.conf, never carry them over.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { giveToSiteUser } from '../../adapters/process.ts'
import {
  PG_HBA,
  archiveCommand,
  pgbackrestCommand,
  sharedPostgresConf,
  withoutRestoreSettings,
} from './config-files.ts'
import type { SiteHandle } from './handle.ts'
import type { Layout, NodeName } from './layout.ts'
import type { NodeRole } from './state.ts'
import type { RoleContext } from '../local-port.ts'

export type { RoleContext }

export interface NodeConfOptions {
  name: NodeName
  port: number
  dataDir: string
  /** stream from this port (hot standby) */
  upstreamPort?: number
  slot?: string
  /** names of standbys that must confirm commits (synchronous mode on a primary) */
  syncStandbys?: string[]
  /** fenced by a failover: if someone starts it by hand, it must not archive a divergent history */
  fenced?: boolean
  /** archive into this directory instead of the repos (a restored primary not yet proven) */
  holdArchiveIn?: string
}

/**
 * Role -> settings. A primary archives and waits for the given standbys; a hot standby streams
 * from the primary over its own slot; a warm standby only restores from the archive; a fenced
 * node keeps the restore command but never archives.
 */
export function settingsForRole(layout: Layout, node: NodeName, role: NodeRole, ctx: RoleContext): NodeConfOptions {
  const base = { name: node, port: layout.ports[node], dataDir: layout.node(node).data }
  switch (role) {
    case 'primary':
      return { ...base, syncStandbys: ctx.syncStandbys ?? [], holdArchiveIn: ctx.holdArchiveIn }
    case 'hot':
      return { ...base, upstreamPort: layout.ports[ctx.primary], slot: node }
    case 'warm':
      return base
    case 'fenced':
      return { ...base, fenced: true }
  }
}

export function nodeConf(layout: Layout, o: NodeConfOptions): string {
  const lines = [
    `# node ${o.name}: written by labdojo-dr; per-node settings, outside the data directory`,
    `port = ${o.port}`,
    `cluster_name = '${o.name}'`,
    o.holdArchiveIn
      ? `archive_command = 'cp %p ${o.holdArchiveIn}/%f.part && mv ${o.holdArchiveIn}/%f.part ${o.holdArchiveIn}/%f'  # held until the restored primary is proven`
      : `archive_command = '${archiveCommand(layout, o.dataDir)}'`,
    // synchronous archive-get: an async get waits up to archive-timeout for a segment that is not there yet
    `restore_command = '${pgbackrestCommand(layout, o.dataDir, '--archive-async=n archive-get %f "%p"')}'`,
  ]
  if (o.upstreamPort)
    lines.push(
      `primary_conninfo = 'host=127.0.0.1 port=${o.upstreamPort} user=postgres passfile=${layout.secrets.pgpass} application_name=${o.name} connect_timeout=2'`,
    )
  if (o.slot) lines.push(`primary_slot_name = '${o.slot}'`)
  lines.push(`synchronous_standby_names = '${o.syncStandbys?.length ? `ANY 1 (${o.syncStandbys.join(', ')})` : ''}'`)
  if (o.fenced)
    lines.push(
      `archive_mode = off  # fenced: a restart by hand must not push a divergent timeline into the shared archive`,
      `default_transaction_read_only = on  # fenced: a restart by hand must not take writes either`,
    )
  return lines.join('\n') + '\n'
}

/** Write a node's node.conf for its role; true when the file changed. */
export function writeNodeSettings(site: SiteHandle, node: NodeName, role: NodeRole, ctx: RoleContext): boolean {
  const file = site.layout.node(node).conf
  const conf = nodeConf(site.layout, settingsForRole(site.layout, node, role, ctx))
  if (existsSync(file) && readFileSync(file, 'utf8') === conf) return false
  writeFileSync(file, conf, { mode: 0o640 })
  giveToSiteUser(file)
  return true
}

/** The standbys a node's node.conf names as synchronous (as written here; what holds is what pg_stat_replication says). */
export function configuredSyncStandbys(layout: Layout, node: NodeName): string[] {
  const file = layout.node(node).conf
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const names = /^synchronous_standby_names = 'ANY 1 \(([^)]*)\)'/m.exec(text)?.[1]
  return names ? names.split(',').map((n) => n.trim()) : []
}

/** A fresh initdb's files: the settings every node shares, and loopback-only access. */
export function writeInitdbFiles(site: SiteHandle, node: NodeName): void {
  const data = site.layout.node(node).data
  const conf = join(data, 'postgresql.conf')
  writeFileSync(conf, readFileSync(conf, 'utf8') + sharedPostgresConf(site.layout, site.policy))
  writeHba(data)
}

/** pg_hba.conf for a site node or a restored cluster (a backup may carry an older one); true when it changed. */
export function writeHba(dataDir: string): boolean {
  const file = join(dataDir, 'pg_hba.conf')
  if (existsSync(file) && readFileSync(file, 'utf8') === PG_HBA) return false
  writeFileSync(file, PG_HBA, { mode: 0o600 })
  giveToSiteUser(file)
  return true
}

/** Make a data directory start as a standby. */
export function writeStandbySignal(dataDir: string): void {
  const file = join(dataDir, 'standby.signal')
  writeFileSync(file, '')
  giveToSiteUser(file)
}

/** Drop a pgBackRest restore's recovery settings from a site node's postgresql.auto.conf (node.conf holds them). */
export function clearRestoreSettings(dataDir: string): boolean {
  const file = join(dataDir, 'postgresql.auto.conf')
  if (!existsSync(file)) return false
  const before = readFileSync(file, 'utf8')
  const after = withoutRestoreSettings(before)
  if (after === before) return false
  writeFileSync(file, after)
  giveToSiteUser(file)
  return true
}
