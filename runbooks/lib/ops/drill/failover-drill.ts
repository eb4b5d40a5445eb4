/**
 * The failover drill: kill -9 the primary under the write workload, fail over through the
 * guarded procedure, measure the RTO the writer saw (kill to its first acknowledged commit
 * through the endpoint) and count acknowledged commits lost; then fail back and switch back,
 * leaving the site as it was found.
 */
import type { AuditLog } from '../../output/audit.ts'
import { postmasterPid } from '../../adapters/postgres.ts'
import { killTree, waitFor } from '../../adapters/process.ts'
import { failover } from '../failover/failover.ts'
import { rejoin } from '../failback/rejoin.ts'
import type { RecoveryMeasure } from '../../../../core/drill.ts'
import { recordOutcome } from '../evidence/ledger.ts'
import { type LocalSitePort, type NodeName } from '../../sites/local-port.ts'

export interface FailoverDrillResult {
  from: NodeName
  to: NodeName
  measure: RecoveryMeasure
  procedureRtoSeconds: number
  writerRtoSeconds: number
  ackedBeforeKill: number
  failbackSeconds: number
  switchbackSeconds: number
}

/**
 * kill -9 of a node as the loss of its host: the postmaster and its backends, by pid. Resolves
 * once none of them runs (so no probe can still reach it); returns the moment of the kill.
 */
export async function killPrimary(site: LocalSitePort, n: NodeName): Promise<number> {
  const pid = postmasterPid(site.layout.node(n).data)
  if (!pid) throw new Error(`${n} is not running`)
  const at = Date.now()
  await killTree(pid)
  return at
}

/** A failover (or switchover) to the hot standby by the guarded procedure, recorded in the evidence ledger. */
async function recordedFailover(site: LocalSitePort, audit: AuditLog, switchover: boolean) {
  const o = { to: 'hot' as const, dryRun: false, acceptDataLoss: false, switchover, automatic: false }
  const report = await failover(site, o, audit, async () => {})
  await recordOutcome(site, 'failover', { report: { ...report } })
  return report
}

export async function failoverDrill(
  site: LocalSitePort,
  audit: AuditLog,
  writerId: string,
  opts: { switchBack?: boolean } = {},
): Promise<FailoverDrillResult> {
  const from = site.state().primary
  await waitFor('the writer to commit', async () => site.workload.acked(writerId).length > 10, 30_000)
  const killedAt = await audit.step(`kill -9 ${from}`, async () => killPrimary(site, from))
  const report = await recordedFailover(site, audit, false)
  const newPort = site.port(report.to)
  const firstAck = await waitFor(
    "the writer's first commit on the new primary",
    async () => site.workload.acked(writerId).find((a) => a.at > killedAt && a.port === newPort),
    60_000,
    20,
  )
  const acks = site.workload.acked(writerId)
  const lost = await site.workload.lostCommits(
    site.endpointConn(),
    acks.filter((a) => a.at <= Date.now()),
  )
  const t1 = Date.now()
  await rejoin(site, from, audit)
  const failbackSeconds = (Date.now() - t1) / 1000
  let switchbackSeconds = 0
  if (opts.switchBack !== false) {
    const t2 = Date.now()
    const back = await recordedFailover(site, audit, true)
    await rejoin(site, back.from, audit)
    switchbackSeconds = (Date.now() - t2) / 1000
  }
  const writerRto = (firstAck.at - killedAt) / 1000
  return {
    from,
    to: report.to,
    measure: {
      what: 'failover to hot after kill -9 of the primary',
      against: { kind: 'site', site: 'hot' },
      rtoSeconds: writerRto,
      rpoSeconds: report.lossWindowSeconds,
      lostCommits: lost.length,
    },
    procedureRtoSeconds: report.timings.rtoSeconds,
    writerRtoSeconds: writerRto,
    ackedBeforeKill: acks.filter((a) => a.at <= killedAt).length,
    failbackSeconds,
    switchbackSeconds,
  }
}
