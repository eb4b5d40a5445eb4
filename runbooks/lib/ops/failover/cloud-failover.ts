/**
 * Failover on a cloud stack, from its exported inventory, in the same order as on the local
 * site: detect (the primary and the endpoint, N consecutive failures), decide (the same pure
 * guards), fence + switch traffic (the Route53 failover record or the Cloud DNS record now names
 * the candidate, so no resolver returns the old primary again), promote (PGO: the standby
 * cluster's spec.standby.enabled=false, through kubectl), verify a write through the endpoint,
 * notify.
 */
import type { Inventory, PgNode } from '../../../../core/inventory.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { inputError, Refusal } from '../../../../core/errors.ts'
import { decideFailover, lossWindow, type FailoverFacts } from '../../../../core/failover.ts'
import { formatDuration } from '../../../../core/duration.ts'
import type { AuditLog } from '../../output/audit.ts'
import type { Runner } from '../../adapters/exec.ts'
import { probe, query, type NodeStatus } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'
import { detectFailures, probePair, snap } from './failover.ts'
import { cloudDnsSwitch, route53Upsert } from '../../adapters/dns.ts'
import { log } from '../../output/log.ts'

export function cloudNodes(inv: Inventory, to: 'hot' | 'warm'): { primary?: PgNode; candidate: PgNode } {
  const primary = inv.nodes.find((n) => n.role === 'primary')
  const candidate = inv.nodes.find((n) => n.site === to)
  if (!candidate) throw inputError('--to', to, `stack ${inv.stack} has no ${to} site (sites: ${inv.sites.map((s) => s.name).join(', ')})`, to === 'warm' ? 'the warm site is in the dr stack: --stack dr' : 'pick a site of this stack')
  return { primary, candidate }
}

export function cloudFailoverPlan(inv: Inventory, to: 'hot' | 'warm'): string[] {
  const { primary, candidate } = cloudNodes(inv, to)
  const ep = inv.endpoint
  const old = primary ? `${primary.host}:${primary.port}` : 'the primary (it belongs to the prod stack: check it with failover.ts --stack prod --dry-run)'
  const dns = ep.kind === 'route53'
    ? `UPSERT the PRIMARY failover record ${ep.recordName} in zone ${ep.zoneId} -> ${candidate.host} (no health check), so no resolver can return the old primary again`
    : `replace the Cloud DNS record ${ep.recordName} in zone ${ep.zoneId} -> ${candidate.host}`
  return [
    `1. detect: probe ${old} and ${ep.host}:${ep.port} in parallel; fail over only after the policy's consecutive failures`,
    `2. fence + switch traffic: ${dns}`,
    `3. promote: kubectl --context ${candidate.kubeContext ?? '<candidate context>'} -n ${candidate.namespace ?? 'labdojo'} patch postgrescluster labdojo --type merge -p '{"spec":{"standby":{"enabled":false}}}'`,
    `4. verify: a write through ${ep.host}:${ep.port} lands on ${candidate.host}`,
    `5. notify along the communication plan; afterwards rejoin the old site as a standby cluster (spec.standby.enabled=true)`,
  ]
}

const conn = (n: { host: string; port: number }, database = 'postgres') => ({ host: n.host, port: n.port, database })

export interface CloudFailoverReport {
  decision: string
  from: string
  to: string
  dnsChange: string
  rtoSeconds: number
  lossWindowSeconds: number
  plan: string[]
}

export async function cloudFailover(inv: Inventory, p: DrPolicy, o: { to: 'hot' | 'warm'; dryRun: boolean; acceptDataLoss: boolean; switchover: boolean }, run: Runner, audit: AuditLog, confirmFn: (q: string) => Promise<void>): Promise<CloudFailoverReport> {
  const { primary, candidate } = cloudNodes(inv, o.to)
  const plan = cloudFailoverPlan(inv, o.to)
  if (o.dryRun) {
    audit.record('failover plan', 'dry-run', { stack: inv.stack, plan })
    return { decision: 'dry run', from: primary?.name ?? 'primary', to: candidate.name, dnsChange: 'none', rtoSeconds: 0, lossWindowSeconds: 0, plan }
  }
  const detection = await detectFailures(p.detection, () => probePair(primary && { name: primary.name, ...conn(primary) }, conn(inv.endpoint), p.detection.probeTimeout * 1000))
  const [ps, cs] = await Promise.all([primary ? probe(primary.name, conn(primary)) : Promise.resolve({ name: 'primary', port: 0, reachable: false } as NodeStatus), probe(candidate.name, conn(candidate))])
  const loss = lossWindow(snap(cs), { synchronous: o.to === 'hot' && p.sites.hot.replication === 'synchronous', lastSafeAt: cs.lastReplayTs ? Date.parse(cs.lastReplayTs) : null, primaryLastSeenAt: detection.lastSeenAt ?? detection.firstFailureAt, now: Date.now() })
  const facts: FailoverFacts = {
    primary: snap(ps), candidate: snap(cs), candidateSite: o.to, candidateFailover: p.sites[o.to].failover === 'automatic' ? 'automatic' : 'manual',
    detection, lastKnownTimeline: ps.reachable ? ps.timeline : undefined, lossWindowSeconds: loss.seconds, lossBasis: loss.basis, tierRpoSeconds: p.tiers[1].rpo,
    flags: { acceptDataLoss: o.acceptDataLoss, switchover: o.switchover, automatic: false },
  }
  const decision = decideFailover(facts)
  audit.record('decide', decision.action === 'promote' ? 'ok' : 'refused', { reason: decision.reason })
  if (decision.action !== 'promote') throw new Refusal(decision.reason)
  log.info(decision.reason)
  await confirmFn(`${decision.mode} of stack ${inv.stack} to ${candidate.name}: DNS will stop naming the old primary.`)
  const t0 = detection.firstFailureAt ?? Date.now()
  const ep = inv.endpoint
  const dnsChange = await audit.step('fence + switch DNS', () =>
    ep.kind === 'route53'
      ? route53Upsert({ zoneId: ep.zoneId!, recordName: ep.recordName!, setIdentifier: 'primary', failover: 'PRIMARY', target: candidate.host, ttl: 30 }, `labdojo-dr ${decision.mode}: ${primary?.name ?? 'primary'} -> ${candidate.name}`)
      : cloudDnsSwitch({ project: ep.zoneId!.split('/')[0]!, zone: ep.zoneId!.split('/').pop()!, recordName: ep.recordName!, oldTarget: primary?.host ?? ep.host, newTarget: candidate.host, ttl: 30 }))
  await audit.step(`promote ${candidate.name}`, () =>
    run('kubectl', [...(candidate.kubeContext ? ['--context', candidate.kubeContext] : []), '-n', candidate.namespace ?? 'labdojo', 'patch', 'postgrescluster', 'labdojo', '--type', 'merge', '-p', '{"spec":{"standby":{"enabled":false}}}'], { timeoutMs: 60_000 }))
  await waitFor(`${candidate.name} to accept writes`, async () => (await probe(candidate.name, conn(candidate))).inRecovery === false, 600_000, 200)
  await audit.step('verify a write through the endpoint', () =>
    waitFor('a write through the endpoint', async () => {
      await query(conn(ep, ep.database), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('failover-verify', $1, $2)`, [Date.now(), `${inv.stack} -> ${candidate.name}`], 5000)
      return true
    }, 600_000, 500))
  const rto = (Date.now() - t0) / 1000
  log.info(`traffic restored on ${candidate.name} in ${formatDuration(rto)}`)
  return { decision: decision.reason, from: primary?.name ?? 'primary', to: candidate.name, dnsChange, rtoSeconds: rto, lossWindowSeconds: loss.seconds, plan }
}
