/**
 * The local site's roles: who is primary, which nodes are fenced and why, which timeline the
 * primary is on. This module is the only writer of those fields of site.json; procedures ask it
 * (failover fences and promotes, failback rejoins) and never edit the state themselves.
 */
import { postmasterPid, probe } from '../../adapters/postgres.ts'
import type { NodeName } from './layout.ts'
import type { LocalSitePort } from '../local-port.ts'
import type { NodeRole, SiteState } from './state.ts'

/** Stop a node now: an immediate shutdown, else SIGKILL to its postmaster (STONITH, by pid). */
export async function stopHard(site: LocalSitePort, node: NodeName): Promise<void> {
  const data = site.layout.node(node).data
  if (!postmasterPid(data)) return
  await site.pg.stop(data, 'immediate').catch(async () => {
    const pid = postmasterPid(data)
    if (pid) process.kill(pid, 'SIGKILL')
  })
}

/** A fenced node: its settings (no archiving, should anyone start it by hand) and its reason, saved. */
export function markFenced(site: LocalSitePort, state: SiteState, node: NodeName, reason: string): void {
  state.roles[node] = 'fenced'
  state.fencedReason = { ...state.fencedReason, [node]: reason }
  site.writeNodeSettings(node, 'fenced', { primary: state.primary })
  site.saveState(state)
}

/** The promoted candidate is the site's primary, on the timeline it answers with (saved by the caller's next step). */
export async function recordPrimary(site: LocalSitePort, state: SiteState, candidate: NodeName): Promise<void> {
  state.primary = candidate
  state.roles[candidate] = 'primary'
  state.timeline = (await probe(candidate, site.conn(candidate, 'postgres'))).timeline
}

/** A node rejoined in a standby role: no longer fenced; the repos' lanes and synchronous replication follow. */
export async function recordStandby(
  site: LocalSitePort,
  state: SiteState,
  node: NodeName,
  role: Exclude<NodeRole, 'primary' | 'fenced'>,
): Promise<string | undefined> {
  state.roles[node] = role
  if (state.fencedReason) delete state.fencedReason[node]
  site.saveState(state)
  site.writeBackrestConf(state)
  return site.ensureSyncReplication(state)
}
