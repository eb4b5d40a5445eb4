/** The local site's proof reference (sites/ports.ts): its warm standby, replaying from repo1's archive. */
import { serverLog, strandedBefore } from '../../adapters/cluster-files.ts'
import type { ReferenceSource } from '../ports.ts'
import type { LocalSite } from './site.ts'
import { nodesWithRole } from './state.ts'

/** The local site's reference: its warm standby. */
export function localReference(site: LocalSite): ReferenceSource {
  const state = site.state()
  const [node] = nodesWithRole(state, 'warm')
  if (!node) throw new Error('no warm standby to take the reference from: local.ts up restores one')
  return {
    name: node,
    conn: site.conn(node),
    primary: site.conn(state.primary, 'postgres'),
    archivedMax: async (repo) => (await site.br.info(repo)).archives.find((a) => a.repoKey === repo)?.max,
    stranded: () => {
      const tl = strandedBefore(serverLog(site.layout.node(node).log))
      return tl === undefined
        ? undefined
        : `${node} (warm), the proof's reference, replayed past timeline ${tl}'s fork point and can never follow the primary: local.ts up rebuilds it, then verify again`
    },
  }
}
