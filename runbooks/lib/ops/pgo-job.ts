/**
 * Waiting for a job PGO runs on our request (a manual backup, an in-place restore): its status
 * for our id, until finished. Succeeded or failed is PGO's answer, never assumed.
 */
import { inputError } from '../../../core/errors.ts'
import type { Inventory, PgNode } from '../../../core/inventory.ts'
import type { Runner } from '../adapters/exec.ts'
import { clusterOf, getPostgresCluster, type ClusterRef, type ManualBackupStatus } from '../adapters/kube.ts'
import { waitFor } from '../adapters/process.ts'

/** The primary's PGO cluster, which takes manual backups and in-place restores: refused without its kube context. */
export function primaryCluster(inv: Inventory): { node: PgNode; ref: ClusterRef } {
  const node = inv.nodes.find((n) => n.role === 'primary')
  if (!node?.kubeContext)
    throw inputError(
      'inventory',
      inv.stack,
      'names no kube context for the primary',
      'export the primary with its kubeContext',
    )
  return { node, ref: clusterOf(node) }
}

export async function awaitPgoJob(
  run: Runner,
  ref: ClusterRef,
  kind: 'manualBackup' | 'restore',
  id: string,
  o: { pollMs?: number; timeoutMs?: number } = {},
): Promise<ManualBackupStatus> {
  let job: ManualBackupStatus | undefined
  await waitFor(
    `PGO's ${kind === 'restore' ? 'restore' : 'backup'} job ${id} to finish`,
    async () => {
      const s = (await getPostgresCluster(run, ref)).status?.pgbackrest?.[kind]
      if (s?.id === id) job = s
      return !!job?.finished
    },
    o.timeoutMs ?? 4 * 3600_000,
    o.pollMs ?? 5000,
  )
  return job!
}
