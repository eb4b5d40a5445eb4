/**
 * Failover on a cloud stack, from its exported inventory, in the same order as on the local
 * site: detect (the primary and the endpoint, N consecutive failures), decide (the same pure
 * guards), fence + switch traffic (the Route53 failover record or the Cloud DNS record now names
 * the candidate, so no resolver returns the old primary again), promote (PGO: the standby
 * cluster's spec.standby.enabled=false, through kubectl), verify a write through the endpoint,
 * notify.
 */
import { endpointConn, nodeConn, type Inventory, type PgNode } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { inputError } from '../../../../core/errors.ts'
import { lossWindow, type FailoverFacts } from '../../../../core/failover.ts'
import { formatDuration } from '../../../../core/duration.ts'
import type { AuditLog } from '../../output/audit.ts'
import type { Runner } from '../../adapters/exec.ts'
import { probe, type NodeStatus } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'
import { detectFailures, probePair, snap } from './detect.ts'
import { decide } from './decide.ts'
import { cloudDnsSwitch, route53Upsert } from '../../adapters/dns.ts'
import { log } from '../../output/log.ts'
import { checkInterrupted, progress, shielded } from '../../output/interrupt.ts'
import { clusterOf, promoteStandbyCluster, shutdownCluster } from '../../adapters/kube.ts'
import type { Webhook } from '../../adapters/notify.ts'
import { notifyFailover } from './notify-failover.ts'
import { awaitWritable } from '../write-check.ts'
import { dryRunReport, outcomeOf, type FailoverReport } from './outcome.ts'

export function cloudNodes(inv: Inventory, to: 'hot' | 'warm'): { primary?: PgNode; candidate: PgNode } {
  const primary = inv.nodes.find((n) => n.role === 'primary')
  const candidate = inv.nodes.find((n) => n.site === to)
  if (!candidate)
    throw inputError(
      '--to',
      to,
      `stack ${inv.stack} has no ${to} site (sites: ${inv.sites.map((s) => s.name).join(', ')})`,
      to === 'warm' ? 'the warm site is in the dr stack: --stack dr' : 'pick a site of this stack',
    )
  return { primary, candidate }
}

export function cloudFailoverPlan(inv: Inventory, to: 'hot' | 'warm'): string[] {
  const { primary, candidate } = cloudNodes(inv, to)
  const ep = inv.endpoint
  const old = primary
    ? `${primary.host}:${primary.port}`
    : "the primary (it belongs to the prod stack: pass prod's inventory with --fence-inventory FILE, or the failover refuses)"
  const dns =
    ep.kind === 'route53'
      ? `UPSERT the PRIMARY failover record ${ep.recordName} in zone ${ep.zoneId} -> ${candidate.host} (no health check), so no resolver can return the old primary again`
      : `replace the Cloud DNS record ${ep.recordName} in zone ${ep.zoneId} -> ${candidate.host}`
  return [
    `1. detect: probe ${old} and ${ep.host}:${ep.port} in parallel; fail over only after the policy's consecutive failures`,
    `2. fence + switch traffic: ${dns}; then shut ${old}'s cluster down through PGO (spec.shutdown=true) if its API answers`,
    `3. promote: kubectl --context ${candidate.kubeContext ?? '<candidate context>'} -n ${candidate.namespace ?? 'labdojo'} patch postgrescluster labdojo --type merge -p '{"spec":{"standby":{"enabled":false}}}'`,
    `4. verify: a write through ${ep.host}:${ep.port} lands on ${candidate.host}`,
    `5. notify along the communication plan; afterwards rejoin the old site as a standby cluster (spec.standby.enabled=true)`,
  ]
}

export interface CloudFailoverOptions {
  to: 'hot' | 'warm'
  dryRun: boolean
  acceptDataLoss: boolean
  switchover: boolean
}

export async function cloudFailover(
  inv: Inventory,
  policy: DrPolicy,
  o: CloudFailoverOptions,
  run: Runner,
  audit: AuditLog,
  confirmFn: (q: string) => Promise<void>,
  hooks: Webhook[] = [],
): Promise<FailoverReport> {
  const { primary, candidate } = cloudNodes(inv, o.to)
  const plan = cloudFailoverPlan(inv, o.to)
  const from = primary?.name ?? 'primary'
  if (o.dryRun) {
    audit.record('failover plan', 'dry-run', { stack: inv.stack, plan })
    return dryRunReport('dry run', from, candidate.name, plan)
  }
  const facts = await gatherCloudFacts(inv, policy, o, primary, candidate)
  const decision = decide(facts, audit)
  log.info(decision.reason)
  await confirmFn(`${decision.mode} of stack ${inv.stack} to ${candidate.name}: DNS will stop naming the old primary.`)
  const t0 = facts.detection.firstFailureAt ?? Date.now()
  checkInterrupted() // the last safe point: from the DNS switch on, stopping halfway leaves clients on a read-only standby
  const { dnsChange, fence } = await shielded(`the ${decision.mode} to ${candidate.name}`, () =>
    switchFencePromote(
      inv,
      run,
      audit,
      primary,
      candidate,
      `labdojo-dr ${decision.mode}: ${from} -> ${candidate.name}`,
    ),
  )
  const rto = (Date.now() - t0) / 1000
  log.info(`traffic restored on ${candidate.name} in ${formatDuration(rto)}`)
  const report: FailoverReport = {
    mode: decision.mode,
    decision: decision.reason,
    from,
    to: candidate.name,
    lossWindowSeconds: facts.lossWindowSeconds,
    lossBasis: facts.lossBasis,
    timings: { rtoSeconds: rto },
    plan,
    fence,
    next: `DNS no longer names ${from}; next: rejoin it as a standby cluster (spec.standby.enabled=true) once its region is back`,
    notified: [],
    dnsChange,
  }
  report.notified = await notifyFailover(policy, inv.stack, outcomeOf(report), hooks, audit)
  return report
}

/** DNS names the candidate, the old primary is shut down if its API answers, the candidate promoted and proven to take writes. */
async function switchFencePromote(
  inv: Inventory,
  run: Runner,
  audit: AuditLog,
  primary: PgNode | undefined,
  candidate: PgNode,
  comment: string,
): Promise<{ dnsChange: string; fence: string }> {
  const dnsChange = await audit.step('fence + switch DNS', () => switchDns(inv, primary, candidate, comment))
  const fence = await fenceOldPrimary(run, primary, audit)
  progress.resume =
    `DNS already names ${candidate.name}: clients no longer reach ${primary?.name ?? 'the old primary'}. Re-run the same failover.ts command (it checks before it acts) to promote and verify, ` +
    `or promote by hand: kubectl --context ${candidate.kubeContext ?? '<context>'} -n ${candidate.namespace ?? 'labdojo'} patch postgrescluster labdojo --type merge -p '{"spec":{"standby":{"enabled":false}}}'`
  await audit.step(`promote ${candidate.name}`, () => promoteStandbyCluster(run, clusterOf(candidate)))
  await waitFor(
    `${candidate.name} to accept writes`,
    async () => (await probe(candidate.name, nodeConn(candidate))).inRecovery === false,
    600_000,
    200,
  )
  await audit.step('verify a write through the endpoint', () => verifyCloudWrite(inv, candidate))
  return { dnsChange, fence }
}

/**
 * Beyond DNS: the old primary's cluster shut down through its API (PGO's spec.shutdown), so a
 * client that bypasses DNS cannot write to it. When its region does not answer, say so plainly:
 * DNS is then the only fence until it is back.
 */
async function fenceOldPrimary(run: Runner, primary: PgNode | undefined, audit: AuditLog): Promise<string> {
  if (!primary?.kubeContext) return 'not attempted: the inventory names no kube context for the old primary'
  const ref = clusterOf(primary)
  try {
    await audit.step(`fence ${primary.name} through PGO (spec.shutdown=true)`, () => shutdownCluster(run, ref))
    return 'its cluster was shut down through PGO (spec.shutdown=true)'
  } catch (e) {
    const why = (e as Error).message.split('\n').filter(Boolean).slice(0, 2).join(' | ')
    log.warn(
      `could NOT shut ${primary.name}'s cluster down through its API (${why}): only DNS fences it now; a client that connects to it directly can still write until it is shut down — when its region answers: kubectl --context ${ref.context} -n ${ref.namespace} patch postgrescluster labdojo --type merge -p '{"spec":{"shutdown":true}}'`,
    )
    return `NOT shut down: its cluster API did not answer (${why}); DNS is the only fence until it does`
  }
}

async function gatherCloudFacts(
  inv: Inventory,
  policy: DrPolicy,
  o: CloudFailoverOptions,
  primary: PgNode | undefined,
  candidate: PgNode,
): Promise<FailoverFacts> {
  const d = policy.detection
  const detection = await detectFailures(d, () =>
    probePair(primary && { name: primary.name, ...nodeConn(primary) }, endpointConn(inv), d.probeTimeout * 1000),
  )
  const absent: NodeStatus = { name: 'primary', port: 0, reachable: false }
  const [ps, cs] = await Promise.all([
    primary ? probe(primary.name, nodeConn(primary)) : Promise.resolve(absent),
    probe(candidate.name, nodeConn(candidate)),
  ])
  const loss = lossWindow(snap(cs), {
    // the hot site is a PGO *standby cluster* in another region: it streams asynchronously whatever
    // the policy says (Patroni's synchronous mode holds among one cluster's instances only), so
    // the window is bounded by what the candidate has replayed, and the RPO guard applies
    synchronous: false,
    lastSafeAt: cs.lastReplayTs ? Date.parse(cs.lastReplayTs) : null,
    primaryLastSeenAt: detection.lastSeenAt ?? detection.firstFailureAt,
    now: Date.now(),
  })
  return {
    primary: snap(ps),
    candidate: snap(cs),
    candidateSite: o.to,
    candidateFailover: policy.sites[o.to].failover === 'automatic' ? 'automatic' : 'manual',
    detection,
    lastKnownTimeline: ps.reachable ? ps.timeline : undefined,
    lossWindowSeconds: loss.seconds,
    lossBasis: loss.basis,
    tierRpoSeconds: policy.tiers[1].rpo,
    flags: { acceptDataLoss: o.acceptDataLoss, switchover: o.switchover, automatic: false },
  }
}

/** Fence and switch in one: the DNS record now names the candidate, so no resolver returns the old primary again. */
function switchDns(inv: Inventory, primary: PgNode | undefined, candidate: PgNode, comment: string): Promise<string> {
  const ep = inv.endpoint
  if (ep.kind === 'route53')
    return route53Upsert(
      {
        zoneId: ep.zoneId!,
        recordName: ep.recordName!,
        setIdentifier: 'primary',
        failover: 'PRIMARY',
        target: candidate.host,
        ttl: 30,
      },
      comment,
    )
  const [project] = ep.zoneId!.split('/')
  const zone = ep.zoneId!.split('/').pop()!
  return cloudDnsSwitch({
    project: project!,
    zone,
    recordName: ep.recordName!,
    oldTarget: primary?.host ?? ep.host,
    newTarget: candidate.host,
    ttl: 30,
  })
}

/** A write through the endpoint, read back on the candidate itself: DNS may still lead some clients elsewhere. */
export function verifyCloudWrite(inv: Inventory, candidate: PgNode): Promise<true> {
  const ep = inv.endpoint
  return awaitWritable(endpointConn(inv), {
    note: `failover ${inv.stack} -> ${candidate.name}`,
    landsOn: { name: candidate.name, conn: { ...nodeConn(candidate), database: ep.database } },
    withinMs: 600_000,
    everyMs: 500,
  })
}
