/**
 * Waiting for a job PGO runs on our request (a manual backup, an in-place restore): its status
 * for our id, until finished. Succeeded or failed is PGO's answer, never assumed.
 */
import type { Runner } from '../adapters/exec.ts'
import { getPostgresCluster, type ClusterRef, type ManualBackupStatus } from '../adapters/kube.ts'
import { waitFor } from '../adapters/process.ts'

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
