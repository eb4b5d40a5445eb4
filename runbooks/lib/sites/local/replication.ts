/**
 * Standbys and replication: clone a standby, start a node for its role, and keep the
 * primary's synchronous set to what the policy asks of the standbys that really stream.
 */
import { existsSync } from 'node:fs'
import { postmasterPid, query } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import type { SiteHandle } from './handle.ts'
import type { NodeName } from './layout.ts'
import { writeNodeSettings, writeStandbySignal } from './node-settings.ts'
import { nodesWithRole, type SiteState } from './state.ts'

/** Write a node's settings for the role the state gives it (a primary: asynchronous until a standby streams). */
export function writeNodeSettingsFor(site: SiteHandle, state: SiteState, node: NodeName): boolean {
  return writeNodeSettings(site, node, state.roles[node], { primary: state.primary })
}

/** A standby from scratch: pg_basebackup of the primary (over a slot for a hot one). */
export async function cloneStandby(site: SiteHandle, state: SiteState, node: NodeName): Promise<void> {
  const data = site.layout.node(node).data
  const role = state.roles[node]
  log.step(`cloning ${node} from ${state.primary} (${role})`)
  if (role === 'hot') {
    const sql = `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`
    await query(site.conn(state.primary, 'postgres'), sql, [node])
  }
  await site.pg.basebackup(site.port(state.primary), '127.0.0.1', data, role === 'hot' ? node : undefined)
  writeStandbySignal(data)
  writeNodeSettingsFor(site, state, node)
}

/** Start a node unless it runs or is fenced; true when it started it. */
export async function ensureRunning(site: SiteHandle, state: SiteState, node: NodeName): Promise<boolean> {
  if (state.roles[node] === 'fenced') return false
  const paths = site.layout.node(node)
  if (postmasterPid(paths.data)) return false
  if (!existsSync(paths.conf)) writeNodeSettingsFor(site, state, node)
  await site.pg.start(paths.data, paths.log, '', { port: site.port(node), dir: site.layout.socketDir })
  return true
}

/** Wait until one of the given standbys streams from the primary. */
export async function waitStreaming(
  site: SiteHandle,
  primary: NodeName,
  standbys: string[],
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `${standbys.join(', ')} to stream from ${primary}`,
    async () => {
      const sql = `SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = ANY($1) AND state = 'streaming'`
      const [r] = await query<{ n: number }>(site.conn(primary, 'postgres'), sql, [standbys])
      return (r?.n ?? 0) > 0
    },
    timeoutMs,
    100,
  )
}

/**
 * In synchronous mode the primary waits for ANY 1 of the streaming hot standbys. Returns the
 * change made, if any. A reload is asynchronous: this returns only once the primary runs with
 * the setting (and, when synchronous, has a standby in sync), so commits after it are synchronous.
 */
export async function ensureSyncReplication(site: SiteHandle, state: SiteState): Promise<string | undefined> {
  const hot = nodesWithRole(state, 'hot')
  const want = site.policy.sites.hot.replication === 'synchronous' ? hot : []
  if (want.length) await waitStreaming(site, state.primary, want)
  const changed = writeNodeSettings(site, state.primary, 'primary', { primary: state.primary, syncStandbys: want })
  if (changed) await site.pg.reload(site.layout.node(state.primary).data)
  const wantSetting = want.length ? `ANY 1 (${want.join(', ')})` : ''
  await waitFor(
    'the primary to apply synchronous_standby_names',
    async () => {
      const sql = `SELECT current_setting('synchronous_standby_names') AS v,
        (SELECT count(*)::int FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')) AS n`
      const [r] = await query<{ v: string; n: number }>(site.conn(state.primary, 'postgres'), sql)
      return r!.v === wantSetting && (want.length === 0 || r!.n > 0)
    },
    60_000,
    20,
  )
  if (!changed) return undefined
  return want.length
    ? `synchronous replication on ${state.primary}: ANY 1 (${want.join(', ')})`
    : `asynchronous replication on ${state.primary}`
}
