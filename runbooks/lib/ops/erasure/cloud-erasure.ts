/**
 * erasure.ts on a cloud stack (prod): the person erased on the primary cluster (TLS, the
 * runbooks' user, the platform's own schema), recorded in the cloud ledger of every S3 vault
 * before the deletion commits; the report as locally. Cloud restores purge them again before
 * the restored cluster serves (cloud-restore.ts, pgo-restore.ts).
 */
import { firstLine } from '../../../../core/errors.ts'
import { nodeConn, type Inventory } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import type { Conn } from '../../adapters/postgres.ts'
import { appendCloudErasure, readCloudLedger, s3Vaults, withVaults, type CloudLedger } from './cloud-ledger.ts'
import { eraseIn, erasureReportOn, purgeErased, type ErasureRecord, type ErasureReportRow } from './erasure.ts'
import type { AuditLog } from '../../output/audit.ts'
import { primaryCluster } from '../pgo-job.ts'
import { log } from '../../output/log.ts'

/** The primary cluster, as the inventory's user, in the platform's database. */
const primaryConn = (inv: Inventory): Conn => nodeConn(primaryCluster(inv).node)

/** The cloud ledger, read (and its notes said) with the vaults closed after. */
export async function cloudErasures(inv: Inventory, env = process.env): Promise<CloudLedger> {
  const ledger = await withVaults(inv, env, readCloudLedger)
  for (const n of ledger.notes) log.warn(`erasure ledger: ${n}`)
  return ledger
}

/** A stack's erasures for a restore: its ledger, or (a stack without S3 vaults: dr's are GCS) why there is none. */
export type StackErasures = { ledger: CloudLedger } | { missing: string }

export async function stackErasures(inv: Inventory, env = process.env): Promise<StackErasures> {
  if (!s3Vaults(inv).length) {
    const missing = `stack ${inv.stack} keeps no erasure ledger (it has no S3 vault; the ledger lives in prod's): erased people are NOT purged from this restore. Purge them (erasure.ts report --stack prod lists them) before it serves anyone`
    log.warn(missing)
    return { missing }
  }
  return { ledger: await cloudErasures(inv, env) }
}

/** Purge everyone on the stack's ledger from a restored database before it serves; what was done, in words. */
export async function reapplyStackErasures(e: StackErasures, conn: Conn, audit: AuditLog): Promise<string> {
  if (!('ledger' in e)) return e.missing
  const r = await audit.step('re-apply the erasure ledger', () => purgeErased(e.ledger.records, conn))
  return `re-applied the cloud erasure ledger before serving: ${r.rows} row(s) of ${r.people} erased person(s) purged`
}

export async function eraseCloud(
  inv: Inventory,
  user: number,
  env = process.env,
): Promise<ErasureRecord & { offsite: string; finished: boolean }> {
  return withVaults(inv, env, async (vaults) => {
    const ledger = await readCloudLedger(vaults)
    let where = 'already on record in the cloud ledger'
    const outcome = await eraseIn(primaryConn(inv), user, {
      already: ledger.records.find((r) => r.user === user),
      record: async (record) => {
        try {
          where = await appendCloudErasure(vaults, ledger, record)
        } catch (e) {
          throw new Error(
            `the erasure of user ${user} could not be recorded in the cloud erasure ledger (${firstLine(e)}): nothing was deleted. Fix the vaults' access, then re-run`,
            { cause: e },
          )
        }
      },
    })
    return { ...outcome.record, finished: outcome.finished, offsite: where }
  })
}

export async function cloudErasureReport(inv: Inventory, policy: DrPolicy): Promise<ErasureReportRow[]> {
  return erasureReportOn(primaryConn(inv), (await cloudErasures(inv)).records, policy)
}
