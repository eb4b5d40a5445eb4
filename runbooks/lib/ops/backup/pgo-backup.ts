/**
 * A physical backup on a cloud stack: PGO takes it (it runs pgBackRest in the cluster, with the
 * repo's credentials); this asks for it the documented way — spec.backups.pgbackrest.manual
 * (the repo, --type) and the pgbackrest-backup annotation with a new id — and waits for PGO's
 * job to finish, reading status.pgbackrest.manualBackup for that id. Succeeded or failed, the
 * answer is PGO's, not assumed.
 */
import type { Inventory } from '../../../../core/inventory.ts'
import type { Runner } from '../../adapters/exec.ts'
import { requestManualBackup, type ManualBackupStatus } from '../../adapters/kube.ts'
import { stamp } from '../../adapters/process.ts'
import { awaitPgoJob, primaryCluster } from '../pgo-job.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'

export interface PgoBackupRecord {
  type: string
  repo: string
  id: string
  job: ManualBackupStatus
  seconds: number
}

export async function pgoBackup(
  run: Runner,
  inv: Inventory,
  type: 'full' | 'diff' | 'incr',
  audit: AuditLog,
  o: { pollMs?: number; timeoutMs?: number } = {},
): Promise<PgoBackupRecord> {
  const { ref } = primaryCluster(inv)
  const repo = 'repo1' // PGO's repo of the primary's vault (the others are copies, not written by PGO)
  const id = `labdojo-${type}-${stamp()}`
  const t0 = Date.now()
  await audit.step(`ask PGO for a ${type} backup (${id})`, () =>
    requestManualBackup(run, ref, { repoName: repo, options: [`--type=${type}`], id }),
  )
  const job = await audit.step(`wait for PGO's backup job ${id}`, () => awaitPgoJob(run, ref, 'manualBackup', id, o))
  if (!job?.succeeded)
    throw new Error(
      `PGO's backup job ${id} failed (${job?.failed ?? 0} failed pod(s)): kubectl --context ${ref.context} -n ${ref.namespace} logs -l postgres-operator.crunchydata.com/pgbackrest-backup=manual`,
    )
  const seconds = (Date.now() - t0) / 1000
  log.info(`PGO took the ${type} backup ${id} in ${seconds.toFixed(0)} s`)
  return { type, repo, id, job, seconds }
}
