/**
 * Failover plan for a cloud stack, from its exported inventory: the same order as on the local
 * site (fence, promote, switch, verify, notify), with the cloud's own controls - the Route53
 * (or Cloud DNS) failover record and the PGO standby cluster. This runbook prints the plan; the
 * DNS step is carried out by runbooks/lib/dns.ts (tested against a local receiver), the
 * promotion by the operator's kubectl.
 */
import type { Inventory } from '../../core/inventory.ts'
import { inputError } from '../../core/errors.ts'

export function cloudFailoverPlan(inv: Inventory, to: 'hot' | 'warm'): string[] {
  const primary = inv.nodes.find((n) => n.role === 'primary')
  const candidate = inv.nodes.find((n) => n.site === to)
  if (!candidate) throw inputError('--to', to, `stack ${inv.stack} has no ${to} site (sites: ${inv.sites.map((s) => s.name).join(', ')})`, to === 'warm' ? 'the warm site is in the dr stack: --stack dr' : 'pick a site of this stack')
  const ep = inv.endpoint
  const old = primary ? `${primary.host}:${primary.port}` : 'the primary (it belongs to the prod stack: check it with failover.ts --stack prod --dry-run)'
  const dns = ep.kind === 'route53'
    ? `UPSERT the PRIMARY failover record ${ep.recordName} in zone ${ep.zoneId} -> ${candidate.host} (no health check), so no resolver can return the old primary again`
    : `set the Cloud DNS record ${ep.recordName} in zone ${ep.zoneId} -> ${candidate.host}`
  return [
    `1. detect: probe ${old} and ${ep.host}:${ep.port} in parallel; fail over only after the policy's consecutive failures`,
    `2. fence: ${dns}; then scale the old primary's PGO instances to 0 if its cluster answers`,
    `3. promote: kubectl -n labdojo patch postgrescluster labdojo --type merge -p '{"spec":{"standby":{"enabled":false}}}'  (context of the ${to} site)`,
    `4. verify: a write through ${ep.host}:${ep.port} lands on ${candidate.host}`,
    `5. notify along the communication plan; afterwards rejoin the old site as a standby cluster (spec.standby.enabled=true)`,
  ]
}
