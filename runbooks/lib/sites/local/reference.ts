/** The local site's proof reference (sites/ports.ts): its warm standby, replaying from repo1's archive. */
import { bigIntToLsn, lsnToBigInt, WAL_SEGMENT_BYTES } from '../../../../core/wal.ts'
import { serverLog, strandedBefore, walCommitsAfter } from '../../adapters/cluster-files.ts'
import type { ReferenceSource } from '../ports.ts'
import type { LocalSitePort } from '../local-port.ts'
import { nodesWithRole } from './state.ts'

/** The local site's reference: its warm standby. */
export function localReference(site: LocalSitePort): ReferenceSource {
  const state = site.state()
  const [node] = nodesWithRole(state, 'warm')
  if (!node) throw new Error('no warm standby to take the reference from: local.ts up restores one')
  return {
    name: node,
    label: 'the warm standby',
    conn: site.conn(node),
    primary: site.conn(state.primary, 'postgres'),
    archivedMax: async (repo) => (await site.br.info(repo)).archives.find((a) => a.repoKey === repo)?.max,
    stranded: () => {
      const tl = strandedBefore(serverLog(site.layout.node(node).log))
      return tl === undefined
        ? undefined
        : `${node} (warm), the proof's reference, replayed past timeline ${tl}'s fork point and can never follow the primary: local.ts up rebuilds it, then verify again`
    },
    lastCommitBefore: (timeline, lsn) => lastCommitBefore(site, timeline, lsn),
  }
}

/** The last commit before `lsn` in the primary's pg_wal; the segments right before it may hold none (WAL switched by a proof): look up to 8 back. */
async function lastCommitBefore(site: LocalSitePort, timeline: number, lsn: string): Promise<string | undefined> {
  const primaryData = site.layout.node(site.state().primary).data
  const seg = WAL_SEGMENT_BYTES
  const x = lsnToBigInt(lsn)
  for (let back = 1n; back <= 8n && x - back * seg >= 0n; back++) {
    const from = bigIntToLsn(((x - 1n) / seg - (back - 1n)) * seg)
    const commits = (await walCommitsAfter(site.run, primaryData, timeline, from).catch(() => [])).filter(
      (c) => lsnToBigInt(c.lsn) < x,
    )
    if (commits.length) return commits.at(-1)!.lsn
  }
  return undefined
}
