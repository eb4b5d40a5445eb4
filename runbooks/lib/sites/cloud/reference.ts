/** A cloud stack's proof reference (sites/ports.ts): a standby of its inventory, its live primary, its vault's archive. */
import { nodeConn, type Inventory, type PgNode } from '../../../../core/inventory.ts'
import { probe } from '../../adapters/postgres.ts'
import { log } from '../../output/log.ts'
import type { ReferenceSource } from '../ports.ts'
import type { CloudRepoConfig } from './repos.ts'

/**
 * A cloud stack's reference: the standby over libpq, the live primary for the WAL switch that puts
 * the record after X into the vault, the vault's archive. A stack whose inventory has no primary
 * answering (dr: its warm site only) cannot close that WAL: a named reference is then an error, a
 * default one is dropped with a warning (structure only).
 */
export async function cloudReference(
  inv: Inventory,
  node: PgNode,
  c: CloudRepoConfig,
  named: boolean,
): Promise<ReferenceSource | undefined> {
  const probes = await Promise.all(inv.nodes.map((n) => probe(n.name, nodeConn(n), 5000)))
  const primary = inv.nodes.find((_, i) => probes[i]!.reachable && probes[i]!.inRecovery === false)
  if (!primary) {
    const why = `no node of stack ${inv.stack} answers as a primary, so nothing can close the WAL after the reference's LSN`
    if (named) throw new Error(`${why}: run it with the inventory of the stack that holds the primary`)
    log.warn(`${why}: the restores are checked for structure, not compared row by row`)
    return undefined
  }
  return {
    name: node.name,
    conn: nodeConn(node),
    primary: { ...nodeConn(primary), database: 'postgres' },
    archivedMax: async (repo) => (await c.br.info(repo)).archives.find((a) => a.repoKey === repo)?.max,
  }
}
