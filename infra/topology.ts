/** The plan's printouts: a resource tree and a Mermaid topology of sites, replication and failover paths. */
import type { Inventory } from '../core/inventory.ts'
import type { DrPolicy } from '../core/policy.ts'
import type { Recorded } from './mocks.ts'

export function resourceTree(rs: Recorded[]): string {
  const byProvider = new Map<string, Recorded[]>()
  for (const r of rs) {
    const p = r.type.split(':')[0]!
    byProvider.set(p, [...(byProvider.get(p) ?? []), r])
  }
  const lines: string[] = []
  for (const [p, list] of [...byProvider.entries()].sort()) {
    lines.push(`${p} (${list.length})`)
    const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name))
    sorted.forEach((r, i) =>
      lines.push(`${i === sorted.length - 1 ? '└──' : '├──'} ${r.type.split(':').pop()!.padEnd(38)} ${r.name}`),
    )
  }
  return lines.join('\n')
}

export function topologyMermaid(stack: string, inv: Inventory, p: DrPolicy): string {
  const sched = `full ${p.schedules.full.cron}, incr ${p.schedules.incremental.cron}, diff ${p.schedules.differential.cron}, WAL ${p.schedules.walArchiving}`
  const region = (s: string) => inv.sites.find((x) => x.name === s)?.region ?? '?'
  if (stack === 'prod') {
    const [vault, replica] = inv.buckets
    return `flowchart LR
  clients((clients)) --> dns{{"Route53 ${inv.endpoint.recordName}<br/>failover records + health check"}}
  dns -- PRIMARY --> primary[("primary site<br/>AWS ${region('primary')}<br/>PGO PostgresCluster")]
  dns -. "SECONDARY when the health check fails" .-> hot[("hot site<br/>AWS ${region('hot')}<br/>PGO standby cluster, 100%")]
  primary == "streaming replication (real-time)" ==> hot
  primary -- "pgBackRest repo1: ${sched}" --> vault["S3 ${vault?.name}<br/>versioned, object lock, SSE-KMS"]
  vault -- "cross-region replication (15 min RTC)" --> replica["S3 ${replica?.name}<br/>${replica?.region}"]
  replica -. "restore / repo for the hot site" .-> hot
  replica -. "read by the dr stack (warm, cold)" .-> dr([dr stack])
`
  }
  const [warmVault, coldVault] = inv.buckets
  return `flowchart LR
  prod(["prod S3 replica vault"]) -- "Storage Transfer, every ${p.sites.warm.rpo / 3600} h" --> wv["GCS ${warmVault?.name}<br/>CMEK, versioning + soft delete, ARCHIVE lifecycle"]
  prod -- "Storage Transfer, every ${p.sites.cold.rpo / 3600} h" --> cv["GCS ${coldVault?.name}<br/>${coldVault?.region}, versions kept ${Math.round(p.tiers[1].retention / 86400)} days"]
  wv -- "repo-fed standby (WAL replay)" --> warm[("warm site<br/>GCP ${region('warm')}<br/>PGO standby, ${p.sites.warm.capacity}% capacity")]
  cv -. "restore from repo alone (cold site, RTO ${p.sites.cold.rto / 3600} h)" .-> cold["cold site: backup only"]
  warm -. "manual failover: failover.ts --to warm" .-> clients((clients))
`
}
