/**
 * restore.ts --in-place on a cloud stack: PGO's documented in-place restore of the primary
 * cluster (spec.backups.pgbackrest.restore: enabled, repo, options; then the pgbackrest-restore
 * annotation with a new id). Before anything irreversible: the target is planned against the
 * vault's own catalog (same choice of backup set and window checks as locally; the plan pins the
 * set), the dry run prints exactly what would be patched, and a person confirms. Then the cluster
 * is closed to clients (a pg_hba gate, outside the data, seen loaded) so that nobody reaches the
 * restored data before it is verified. After PGO's job: the restore is switched off again (no
 * later annotation repeats it); the primary must answer as a primary, still gated, with every
 * table of the platform readable, the cloud erasure ledger (read before anything changed)
 * re-applied, and take a write; only then is the gate lifted. A failure leaves the gate closed
 * and says how to lift it.
 */
import { inputError } from '../../../../core/errors.ts'
import { nodeConn, type Inventory } from '../../../../core/inventory.ts'
import type { RestorePlan } from '../../../../core/recovery.ts'
import type { Runner } from '../../adapters/exec.ts'
import { gateRules } from '../../../../core/client-gate.ts'
import {
  disableInPlaceRestore,
  hbaPatch,
  inPlaceRestorePatch,
  requestInPlaceRestore,
  type ManualBackupStatus,
} from '../../adapters/kube.ts'
import { probe, type Conn } from '../../adapters/postgres.ts'
import { proveWritable } from '../write-check.ts'
import { closeGate, gateState, planGate, reopenCommand, reopenGate } from './client-gate.ts'
import { requireTables } from './cluster.ts'
import { stamp, waitFor } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { progress } from '../../output/interrupt.ts'
import { awaitPgoJob, primaryCluster } from '../pgo-job.ts'
import { removeScratch } from '../../adapters/scratch.ts'
import { describeTarget } from '../../../../core/recovery-target.ts'
import { log } from '../../output/log.ts'
import { cloudRepoConfig, cloudRepos } from '../../sites/cloud/repos.ts'
import { planCloudRestore, type CloudRestoreOptions } from './cloud-restore.ts'
import { planText } from './plan.ts'
import { reapplyStackErasures, stackErasures, type StackErasures } from '../erasure/cloud-erasure.ts'

/** PGO's restore options from the plan: the set pinned, a time target quoted as PGO's docs show. */
export function pgoRestoreOptions(plan: RestorePlan): string[] {
  return [
    `--set=${plan.backup.label}`,
    ...plan.targetArgs.map((a) => (a.startsWith('--target=') && a.includes(' ') ? `--target="${a.slice(9)}"` : a)),
  ]
}

/** What the run would do, in words and as the patch itself (the dry run prints it). */
export function pgoRestoreText(inv: Inventory, plan: RestorePlan): string {
  const { node, ref } = primaryCluster(inv)
  const patch = JSON.stringify(inPlaceRestorePatch(true, 'repo1', pgoRestoreOptions(plan)))
  return [
    `in-place restore of stack ${inv.stack} by PGO (cluster ${ref.name} in ${ref.context}/${ref.namespace}):`,
    `  kubectl patch postgrescluster ${ref.name} --type merge -p '${patch}'`,
    `  kubectl annotate postgrescluster ${ref.name} --overwrite postgres-operator.crunchydata.com/pgbackrest-restore=<new id>`,
    `  then: wait for PGO's restore job, switch the restore off, verify the primary answers, purge everyone in the cloud erasure ledger again, and take a write`,
    `before the restore, clients are refused (only the inventory's user ${node.user} gets in):`,
    `  kubectl patch postgrescluster ${ref.name} --type merge -p '${JSON.stringify(hbaPatch(['<the gate>']))}'`,
    `  the gate: ${gateRules(node.user, false).join(' | ')} (hostssl for the user when this run connects over TLS)`,
    `after the verification, the cluster's own pg_hba rules (or PGO's defaults) come back`,
  ].join('\n')
}

export async function pgoRestoreInPlace(
  run: Runner,
  inv: Inventory,
  plan: RestorePlan,
  audit: AuditLog,
  erasures: StackErasures,
  o: { pollMs?: number } = {},
): Promise<{ id: string; job: ManualBackupStatus; seconds: number; erasures: string }> {
  const { node, ref } = primaryCluster(inv)
  const conn = nodeConn(node)
  const id = `labdojo-restore-${stamp()}`
  const t0 = Date.now()
  const gate = await audit.step('plan the client gate', () => planGate(run, ref, conn, node.user))
  progress.resume = `${ref.name} was not restored; its pg_hba gate (clients refused) may be in place: reopen it with ${reopenCommand(gate)}`
  await audit.step(`close ${ref.name} to clients`, () => closeGate(run, gate, conn))
  await audit.step(`ask PGO to restore ${ref.name} in place (${id})`, () =>
    requestInPlaceRestore(run, ref, { repoName: 'repo1', options: pgoRestoreOptions(plan), id }),
  )
  progress.resume = `PGO is restoring ${ref.name} in place (${id}) with the cluster closed to clients; watch it with kubectl --context ${ref.context} -n ${ref.namespace} get postgrescluster ${ref.name} -o jsonpath='{.status.pgbackrest.restore}', switch it off (kubectl patch ... -p '${JSON.stringify(inPlaceRestorePatch(false, 'repo1'))}'), verify the restored primary, then reopen it: ${reopenCommand(gate)}`
  const job = await audit.step(`wait for PGO's restore job ${id}`, () => awaitPgoJob(run, ref, 'restore', id, o))
  await audit.step('switch the in-place restore off again', () => disableInPlaceRestore(run, ref))
  progress.resume = `${ref.name} stays closed to clients until its data is known good: find out why the run stopped (above), restore again or check the primary, then reopen it with ${reopenCommand(gate)}`
  if (!job.succeeded)
    throw new Error(
      `PGO's restore job ${id} failed (${job.failed ?? 0} failed pod(s)): kubectl --context ${ref.context} -n ${ref.namespace} logs -l postgres-operator.crunchydata.com/pgbackrest-restore`,
    )
  const erased = await verifyRestored(node.name, conn, id, erasures, audit)
  await audit.step(`reopen ${ref.name} to clients`, () => reopenGate(run, gate, conn))
  progress.resume = undefined
  return { id, job, seconds: (Date.now() - t0) / 1000, erasures: erased }
}

/**
 * The restored primary answers as a primary, is still closed to clients, reads every platform
 * table, has the erased purged again and takes a write; what was purged, in words.
 */
async function verifyRestored(
  name: string,
  conn: Conn,
  id: string,
  erasures: StackErasures,
  audit: AuditLog,
): Promise<string> {
  await audit.step('verify the restored primary before clients return', () => verifyPrimary(name, conn))
  const erased = await reapplyStackErasures(erasures, conn, audit)
  await audit.step('verify the restored primary takes a write', () =>
    proveWritable(conn, { note: `in-place restore ${id}` }),
  )
  return erased
}

/** The restored primary answers as a primary, is still closed to clients and reads every platform table. */
async function verifyPrimary(name: string, conn: Conn): Promise<void> {
  await waitFor(
    `${name} to answer as a primary`,
    async () => (await probe(name, conn)).inRecovery === false,
    600_000,
    1000,
  )
  if ((await gateState(conn)) !== 'closed')
    log.warn(
      `${name} came back without the client gate (PGO's restore did not keep the cluster's pg_hba): clients may have reached the restored data before this verification`,
    )
  await requireTables(conn)
}

/**
 * The whole in-place run: inputs checked, the target planned against repo 1's own catalog (the
 * vault PGO restores from), the dry run's text, a person's confirmation, then PGO's restore.
 */
export async function cloudRestoreInPlace(
  run: Runner,
  inv: Inventory,
  o: CloudRestoreOptions,
  audit: AuditLog,
  confirmFn: (q: string) => Promise<void>,
): Promise<{ plan: RestorePlan; text: string; result?: Awaited<ReturnType<typeof pgoRestoreInPlace>> }> {
  if (o.into !== undefined || o.port !== undefined)
    throw inputError(
      '--in-place',
      true,
      'restores the primary cluster where it is',
      'drop --into/--port, or drop --in-place to restore into a new cluster on this machine',
    )
  if (o.repo !== undefined && o.repo !== 1)
    throw inputError(
      '--repo',
      o.repo,
      "PGO restores from the primary's own repo (repo1)",
      'drop --repo, or restore that repo into a new cluster here (--into DIR)',
    )
  const { node } = primaryCluster(inv)
  const repo1 = cloudRepos(inv).filter((r) => r.index === 1)
  if (!repo1.length)
    throw inputError('inventory', inv.stack, 'has no cloud repo 1 (the vault PGO restores from)', 'fix the inventory')
  const erasures = await audit.step('read the erasure ledger', () => stackErasures(inv))
  const repos = cloudRepoConfig(run, inv, repo1)
  try {
    const plan = await audit.step('plan restore', () => planCloudRestore(run, inv, { ...o, repo: 1 }, repos), {
      target: describeTarget(o.target),
      repo: 1,
    })
    const text = pgoRestoreText(inv, plan)
    if (o.dryRun) {
      audit.record('restore', 'dry-run', {
        target: describeTarget(o.target),
        repo: 1,
        set: plan.backup.label,
        inPlace: true,
      })
      return { plan, text }
    }
    log.info(`${planText(plan, `in place: ${node.name} (PGO)`, node.port)}\n${text}`)
    await confirmFn(
      `In-place restore of stack ${inv.stack}: PGO stops the primary cluster and replaces its data with ${describeTarget(o.target)}; commits after it will no longer be served.`,
    )
    const result = await pgoRestoreInPlace(run, inv, plan, audit, erasures)
    const standbys = inv.nodes.filter((n) => n.role === 'standby').map((n) => n.name)
    if (standbys.length)
      log.warn(
        `the standby clusters (${standbys.join(', ')}) replayed the old history past the target and cannot follow the restored primary's new timeline: rebuild each from it (PGO: recreate the standby cluster), then take a full backup`,
      )
    return { plan, text, result }
  } finally {
    removeScratch(repos.dir)
  }
}
