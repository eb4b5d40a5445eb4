/**
 * The warm site's drill: a planned, manual failover to the warm standby (a switchover: no
 * acknowledged commit may be lost), a write through the endpoint on it, and back — the old
 * primary rejoins and takes over again, the hot standby rejoins it, and the warm node returns
 * to replaying the archive. The site ends with the roles it started with.
 */
import type { RecoveryMeasure } from '../../../../core/drill.ts'
import type { AuditLog } from '../../output/audit.ts'
import { failover } from '../failover/failover.ts'
import { keepWarmFollowing, rejoin } from '../failback/rejoin.ts'
import { recordOutcome } from '../evidence/ledger.ts'
import { NODE_NAMES, type LocalSitePort, type NodeName } from '../../sites/local-port.ts'

export interface WarmDrillResult {
  primary: NodeName
  warm: NodeName
  measure: RecoveryMeasure
  /** the switchover to warm: fence to a write acknowledged through the endpoint */
  toWarmSeconds: number
  /** everything after: rejoin, switch back, both standbys rejoined */
  backSeconds: number
  /** set when the warm standby had to be rebuilt before it could be drilled */
  rebuilt: string
}

const noConfirm = async () => {}

export async function warmRoundTrip(site: LocalSitePort, audit: AuditLog, writerId: string): Promise<WarmDrillResult> {
  const start = site.state()
  const primary = start.primary
  const warm = NODE_NAMES.find((n) => start.roles[n] === 'warm')
  const hot = NODE_NAMES.filter((n) => start.roles[n] === 'hot')
  if (!warm) throw new Error('the site has no warm standby to drill (local.ts status shows the roles)')
  const manual = { dryRun: false, acceptDataLoss: false, switchover: true, automatic: false }

  const rebuilt = await keepWarmFollowing(site, audit)
  const t0 = Date.now()
  const toWarm = await failover(site, { ...manual, to: 'warm' }, audit, noConfirm)
  const toWarmSeconds = (Date.now() - t0) / 1000
  await recordOutcome(site, 'failover', { report: { ...toWarm } })
  const lostOnWarm = await site.workload.lostCommits(site.endpointConn(), site.workload.acked(writerId))

  const t1 = Date.now()
  await rejoin(site, primary, audit, 'hot')
  const back = await failover(site, { ...manual, to: 'hot' }, audit, noConfirm)
  await recordOutcome(site, 'failover', { report: { ...back } })
  if (back.to !== primary) throw new Error(`switching back chose ${back.to}, expected ${primary}`)
  for (const n of hot) await rejoin(site, n, audit, 'hot')
  await rejoin(site, warm, audit, 'warm')
  const backSeconds = (Date.now() - t1) / 1000
  const lostAfter = await site.workload.lostCommits(site.endpointConn(), site.workload.acked(writerId))

  return {
    primary,
    warm,
    measure: {
      what: `manual failover to the warm site (${primary} -> ${warm})`,
      against: { kind: 'site', site: 'warm' },
      rtoSeconds: toWarm.timings.rtoSeconds,
      rpoSeconds: toWarm.lossWindowSeconds,
      lostCommits: Math.max(lostOnWarm.length, lostAfter.length),
    },
    toWarmSeconds,
    backSeconds,
    rebuilt,
  }
}
