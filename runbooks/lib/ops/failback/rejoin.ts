/**
 * Failback: rejoin a fenced old primary as a standby of the new one (CHECKPOINT on the new
 * primary first, then pg_rewind with the archive as WAL source; when rewind is impossible, a
 * fresh clone from the new primary, the old directory kept aside), then, on request, a planned
 * switchover back.
 */
import { renameSync, writeFileSync } from 'node:fs'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { inputError } from '../../../../core/errors.ts'
import { nodeConf } from '../../sites/local/config-files.ts'
import { NODE_NAMES, type NodeName } from '../../sites/local/layout.ts'
import type { LocalSite } from '../../sites/local/site.ts'
import { clearStaleLocks, postmasterPid, query, waitDataDirIdle } from '../../adapters/postgres.ts'
import { giveToSiteUser, waitFor } from '../../adapters/process.ts'

export interface RejoinReport {
  node: NodeName
  primary: NodeName
  method: 'rewind' | 'no rewind needed' | 'fresh clone'
  seconds: number
  detail: string
}

export function fencedNode(site: LocalSite, name?: string): NodeName {
  const s = site.state()
  const fenced = NODE_NAMES.filter((n) => s.roles[n] === 'fenced')
  if (name !== undefined) {
    if (!(NODE_NAMES as readonly string[]).includes(name)) throw inputError('--node', name, `must be one of ${NODE_NAMES.join(', ')}`, `fenced nodes: ${fenced.join(', ') || 'none'}`)
    if (s.roles[name as NodeName] !== 'fenced') throw inputError('--node', name, `is ${s.roles[name as NodeName]}, not fenced; only a fenced node rejoins`, `fenced nodes: ${fenced.join(', ') || 'none'}`)
    return name as NodeName
  }
  if (fenced.length === 0) throw inputError('failback', 'no fenced node', 'there is nothing to rejoin: every node has a role', 'run failover.ts first, or check local.ts status')
  return fenced[0]!
}

/** Make a fenced node a hot standby of the current primary. */
export async function rejoin(site: LocalSite, node: NodeName, audit: AuditLog): Promise<RejoinReport> {
  const t0 = Date.now()
  const s = site.state()
  const primary = s.primary
  const nd = site.l.node(node)
  if (postmasterPid(nd.data)) await audit.step(`stop ${node} before rewinding it`, () => site.pg.stop(nd.data, 'fast'))
  await waitDataDirIdle(nd.data) // a killed postmaster's backends may still hold its shared memory
  clearStaleLocks(nd.data, { port: site.port(node), dir: site.l.socketDir })
  // pg_rewind -c reads restore_command through node.conf; point it at the new primary first
  writeFileSync(nd.conf, nodeConf(site.l, { name: node, port: site.port(node), dataDir: nd.data, upstreamPort: site.port(primary), slot: node }))
  giveToSiteUser(nd.conf)
  await audit.step(`CHECKPOINT on ${primary}`, () => query(site.conn(primary, 'postgres'), 'CHECKPOINT'))
  let method: RejoinReport['method'] = 'rewind'
  let detail = ''
  try {
    const r = await audit.step(`pg_rewind ${node} from ${primary}`, () => site.pg.rewind(nd.data, site.port(primary)))
    detail = (r as { stdout: string; stderr: string }).stderr.trim().split('\n').slice(-2).join(' ')
    if (/no rewind required/i.test(detail)) method = 'no rewind needed'
  } catch (e) {
    // as Patroni does: re-clone from the current primary. (A delta restore from the repo would
    // have to replay every timeline switch since the backup, and measured here it could stall.)
    const aside = `${nd.data}.unrewindable-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}`
    log.warn(`pg_rewind failed (${(e as Error).message.split('\n')[0]}); cloning ${node} afresh from ${primary}, keeping the old directory at ${aside}`)
    method = 'fresh clone'
    renameSync(nd.data, aside)
    await audit.step(`clone ${node} from ${primary} (pg_basebackup)`, () => site.cloneStandby({ ...s, roles: { ...s.roles, [node]: 'hot' } }, node))
    detail = `pg_rewind failed; cloned from ${primary}; the old directory is kept at ${aside} until you remove it`
  }
  writeFileSync(`${nd.data}/standby.signal`, '')
  giveToSiteUser(`${nd.data}/standby.signal`)
  await query(site.conn(primary, 'postgres'), `SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, [node])
  await audit.step(`start ${node} as a standby of ${primary}`, () => site.pg.start(nd.data, nd.log, '', { port: site.port(node), dir: site.l.socketDir }))
  await waitFor(`${node} to stream from ${primary}`, async () => {
    const [r] = await query<{ n: number }>(site.conn(primary, 'postgres'), `SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`, [node])
    return (r?.n ?? 0) > 0
  }, 600_000, 100)
  s.roles[node] = 'hot'
  if (s.fencedReason) delete s.fencedReason[node]
  site.saveState(s)
  site.writeBackrestConf(s)
  const sync = await site.ensureSyncReplication(s)
  if (sync) log.info(sync)
  return { node, primary, method, seconds: (Date.now() - t0) / 1000, detail }
}

