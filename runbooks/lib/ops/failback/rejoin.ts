/**
 * Failback: rejoin a fenced old primary as a standby of the new one, as named steps: stop it,
 * point it at the new primary, CHECKPOINT there, rewind it (the archive supplies missing WAL;
 * when rewind is impossible, clone it afresh with the old directory kept aside), start it as
 * a streaming standby, and record its new role.
 */
import { existsSync, renameSync } from 'node:fs'
import { inputError, firstLine } from '../../../../core/errors.ts'
import { stamp, waitFor } from '../../adapters/process.ts'
import { clearStaleLocks, postmasterPid, query, waitDataDirIdle } from '../../adapters/postgres.ts'
import { followedTimeline, serverLog, strandedBefore } from '../../adapters/cluster-files.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { NODE_NAMES, type LocalSitePort, type NodeName, type SiteState } from '../../sites/local-port.ts'

export interface RejoinReport {
  node: NodeName
  primary: NodeName
  method: 'rewind' | 'no rewind needed' | 'fresh clone'
  seconds: number
  detail: string
}

export function fencedNode(site: LocalSitePort, name?: string): NodeName {
  const state = site.state()
  const fenced = NODE_NAMES.filter((n) => state.roles[n] === 'fenced')
  const fencedList = `fenced nodes: ${fenced.join(', ') || 'none'}`
  if (name !== undefined) {
    if (!(NODE_NAMES as readonly string[]).includes(name))
      throw inputError('--node', name, `must be one of ${NODE_NAMES.join(', ')}`, fencedList)
    const role = state.roles[name as NodeName]
    if (role !== 'fenced')
      throw inputError('--node', name, `is ${role}, not fenced; only a fenced node rejoins`, fencedList)
    return name as NodeName
  }
  if (fenced.length === 0)
    throw inputError(
      'failback',
      'no fenced node',
      'there is nothing to rejoin: every node has a role',
      'run failover.ts first, or check local.ts status',
    )
  return fenced[0]!
}

export type StandbyRole = 'hot' | 'warm'

/** Make a fenced node a standby of the current primary: hot (streaming, the default) or warm (archive only). */
export async function rejoin(
  site: LocalSitePort,
  node: NodeName,
  audit: AuditLog,
  role: StandbyRole = 'hot',
): Promise<RejoinReport> {
  const t0 = Date.now()
  const state = site.state()
  const primary = state.primary
  const { method, detail } = existsSync(site.layout.node(node).data)
    ? await rewindOrClone(site, state, node, audit, role)
    : await cloneAfresh(site, state, node, audit, `${node}'s data directory is gone`, role)
  if (role === 'hot') await startAsStandby(site, node, primary, audit)
  else await startAsWarm(site, state, node, audit)
  await recordRole(site, state, node, role)
  // the redundancy a failover took away is back only when the warm site follows the new history too
  const warm = role === 'hot' ? await keepWarmFollowing(site, audit) : ''
  return { node, primary, method, seconds: (Date.now() - t0) / 1000, detail: warm ? `${detail}; ${warm}` : detail }
}

/**
 * After a failover the primary runs on a new timeline, which the archive-fed warm standby
 * follows once it fetches the new history. End the primary's segment and wait until each running
 * warm standby has replayed past it on the primary's timeline. One that replayed past the fork
 * point (the dead primary's last archived segment held WAL the promoted standby never received)
 * can never follow: it is rewound (or cloned afresh) from the primary as a warm standby, and
 * said so. Returns what was done ('' when nothing had to be).
 */
export async function keepWarmFollowing(site: LocalSitePort, audit: AuditLog): Promise<string> {
  const state = site.state()
  const warm = NODE_NAMES.find((n) => state.roles[n] === 'warm' && postmasterPid(site.layout.node(n).data))
  if (!warm) return ''
  const primary = state.primary
  const [p] = await query<{ lsn: string; tl: number }>(
    site.conn(primary, 'postgres'),
    `SELECT lsn::text, ('x' || substr(pg_walfile_name(lsn), 1, 8))::bit(32)::int AS tl FROM (SELECT pg_switch_wal() AS lsn) s`,
  )
  const logOf = () => serverLog(site.layout.node(warm).log)
  let rebuilt = ''
  const follows = async () => {
    const stranded = strandedBefore(logOf())
    if (stranded !== undefined && !rebuilt) {
      log.warn(
        `${warm} replayed past timeline ${stranded}'s fork point and cannot follow it: rebuilding it from ${primary}`,
      )
      const r = await rejoin(site, warm, audit, 'warm')
      rebuilt = `${warm} (warm) was stranded before timeline ${stranded}: ${r.method} from ${primary}`
    }
    const sql = 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok'
    const [w] = await query<{ ok: boolean }>(site.conn(warm, 'postgres'), sql, [p!.lsn])
    return w!.ok && followedTimeline(logOf()) === p!.tl
  }
  await audit.step(`let ${warm} replay onto ${primary}'s timeline ${p!.tl}`, () =>
    waitFor(`${warm} to replay ${p!.lsn} on timeline ${p!.tl}`, follows, 120_000, 200),
  )
  return rebuilt
}

async function stopFencedNode(site: LocalSitePort, node: NodeName, audit: AuditLog): Promise<void> {
  const data = site.layout.node(node).data
  if (postmasterPid(data)) await audit.step(`stop ${node} before rewinding it`, () => site.pg.stop(data, 'fast'))
  await waitDataDirIdle(data) // a killed postmaster's backends may still hold its shared memory
  clearStaleLocks(data, { port: site.port(node), dir: site.layout.socketDir })
}

/**
 * pg_rewind from the new primary; when it cannot run, as Patroni does, a fresh clone from the
 * current primary (a delta restore from the repo would have to replay every timeline switch
 * since the backup, and measured here it could stall). The old directory is kept aside.
 */
async function rewindOrClone(
  site: LocalSitePort,
  state: SiteState,
  node: NodeName,
  audit: AuditLog,
  role: StandbyRole,
): Promise<Pick<RejoinReport, 'method' | 'detail'>> {
  const primary = state.primary
  const data = site.layout.node(node).data
  await stopFencedNode(site, node, audit)
  // pg_rewind -c reads restore_command through node.conf: point it at the new primary first
  site.writeNodeSettings(node, 'hot', { primary })
  await audit.step(`CHECKPOINT on ${primary}`, () => query(site.conn(primary, 'postgres'), 'CHECKPOINT'))
  try {
    const r = await audit.step(`pg_rewind ${node} from ${primary}`, () => site.pg.rewind(data, site.port(primary)))
    const detail = (r as { stderr: string }).stderr.trim().split('\n').slice(-2).join(' ')
    return { method: /no rewind required/i.test(detail) ? 'no rewind needed' : 'rewind', detail }
  } catch (e) {
    const aside = `${data}.unrewindable-${stamp()}`
    log.warn(
      `pg_rewind failed (${firstLine(e)}); cloning ${node} afresh from ${primary}, keeping the old directory at ${aside}`,
    )
    renameSync(data, aside)
    const cloned = await cloneAfresh(site, state, node, audit, 'pg_rewind failed', role)
    return { ...cloned, detail: `${cloned.detail}; the old directory is kept at ${aside} until you remove it` }
  }
}

/** A fresh pg_basebackup clone from the current primary, over the node's slot. */
async function cloneAfresh(
  site: LocalSitePort,
  state: SiteState,
  node: NodeName,
  audit: AuditLog,
  why: string,
  role: StandbyRole,
): Promise<Pick<RejoinReport, 'method' | 'detail'>> {
  const asRole = { ...state, roles: { ...state.roles, [node]: role } }
  await audit.step(`clone ${node} from ${state.primary} (pg_basebackup)`, () => site.cloneStandby(asRole, node))
  return { method: 'fresh clone', detail: `${why}; cloned from ${state.primary}` }
}

async function startAsStandby(site: LocalSitePort, node: NodeName, primary: NodeName, audit: AuditLog): Promise<void> {
  const paths = site.layout.node(node)
  site.settings.writeStandbySignal(paths.data)
  const slotSql = `SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`
  await query(site.conn(primary, 'postgres'), slotSql, [node])
  await audit.step(`start ${node} as a standby of ${primary}`, () =>
    site.pg.start(paths.data, paths.log, '', { port: site.port(node), dir: site.layout.socketDir }),
  )
  await site.waitStreaming(primary, [node], 600_000)
}

/**
 * A warm standby replays the archive only: its settings say so, and no slot on the primary holds
 * WAL for it (an unused slot would keep every segment until the disk fills).
 */
async function startAsWarm(site: LocalSitePort, state: SiteState, node: NodeName, audit: AuditLog): Promise<void> {
  const paths = site.layout.node(node)
  site.writeNodeSettings(node, 'warm', { primary: state.primary })
  site.settings.writeStandbySignal(paths.data)
  const dropSql = `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`
  await query(site.conn(state.primary, 'postgres'), dropSql, [node])
  // a rewound node is consistent only at the primary's position when it was rewound: close that
  // segment so the archive has it now, not after archive_timeout
  await query(site.conn(state.primary, 'postgres'), 'SELECT pg_switch_wal()')
  await audit.step(`start ${node} as a warm standby (archive only)`, () =>
    site.pg.start(paths.data, paths.log, '', { port: site.port(node), dir: site.layout.socketDir }),
  )
  const replaying = async () =>
    (await query<{ r: boolean }>(site.conn(node, 'postgres'), 'SELECT pg_is_in_recovery() AS r'))[0]!.r
  await waitFor(`${node} to accept read-only connections`, replaying, 600_000, 100)
}

async function recordRole(site: LocalSitePort, state: SiteState, node: NodeName, role: StandbyRole): Promise<void> {
  const sync = await site.roles.recordStandby(state, node, role)
  if (sync) log.info(sync)
}
