/** The recovery catalog of a cloud stack, read straight from its vaults (sites/cloud/repos.ts) with the same repoCatalog as the local site. */
import type { Inventory } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import type { Runner } from '../../adapters/exec.ts'
import { removeScratch } from '../../adapters/scratch.ts'
import { cloudRepoConfig, cloudRepos } from '../../sites/cloud/repos.ts'
import { repoCatalog } from './catalog.ts'
import { assembleCatalog, type CatalogReport } from './report.ts'

export async function cloudCatalog(run: Runner, inv: Inventory, policy: DrPolicy): Promise<CatalogReport> {
  const repos = cloudRepos(inv)
  const c = cloudRepoConfig(run, inv, repos)
  try {
    const now = Date.now()
    const catalogs = await Promise.all(repos.map((r) => repoCatalog(run, c.br, r.index, c.pg)))
    // the primary's archiver cannot be asked from here: only what the vault holds counts
    return assembleCatalog(policy, inv.stack, catalogs, now, { archiveCurrent: false, restorePoints: [], files: [] })
  } finally {
    removeScratch(c.dir)
  }
}
