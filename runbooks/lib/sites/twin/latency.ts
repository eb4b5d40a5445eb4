/**
 * The round trip between regions, paid for real (the kernel has no netem): inside each region,
 * nftables redirects every connection it opens to another region's PostgreSQL (the Services and
 * the instances, port 5432) to a delay relay of its own (delay-relay.mjs), which runs as nobody so
 * its own connections pass untouched. Streaming replication, probes from inside a region and the
 * standby cluster's basebackup all pay the round trip of their region pair (layout.ts).
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Runner } from '../../adapters/exec.ts'
import { startOnce, stopOnce } from './processes.ts'
import { PG_PORT, rttBetween, type TwinLayout, type TwinSiteLayout } from './layout.ts'

const RELAY = fileURLToPath(new URL('./delay-relay.mjs', import.meta.url))
const RELAY_BASE_PORT = 20000
const NOBODY = 65534 // the relays' user (processes.ts): nftables lets its connections pass

/** Every remote PostgreSQL address this region reaches, with the relay port that stands for it and its round trip. */
export function remoteTargets(l: TwinLayout, s: TwinSiteLayout) {
  const out: { ip: string; port: number; relayPort: number; rttMs: number }[] = []
  for (const o of l.sites)
    if (o !== s && rttBetween(s.region, o.region) > 0)
      for (const ip of [o.serviceIp, ...o.instances.map((i) => i.ip)])
        out.push({ ip, port: PG_PORT, relayPort: RELAY_BASE_PORT + out.length, rttMs: rttBetween(s.region, o.region) })
  return out
}

export async function latencyUp(run: Runner, l: TwinLayout): Promise<void> {
  for (const s of l.sites) {
    const targets = remoteTargets(l, s)
    if (!targets.length) continue
    const byRtt = new Map<number, typeof targets>()
    for (const t of targets) byRtt.set(t.rttMs, [...(byRtt.get(t.rttMs) ?? []), t])
    for (const [rtt, ts] of byRtt) {
      const pairs = ts.map((t) => `${s.hostIp}:${t.relayPort}=${t.ip}:${t.port}`)
      const args = [RELAY, String(rtt), ...pairs]
      startOnce({
        dir: join(s.dir, 'latency'),
        name: `delay-relay-${rtt}`,
        match: 'delay-relay.mjs',
        ns: s.ns,
        as: 'nobody',
        cmd: process.execPath,
        args,
      })
    }
    const map = targets.map((t) => `${t.ip} . ${t.port} : ${s.hostIp} . ${t.relayPort}`).join(', ')
    const rules = `table ip labdojo_twin {\n  chain out {\n    type nat hook output priority -100; policy accept;\n    meta skuid != ${NOBODY} meta l4proto tcp dnat ip to ip daddr . tcp dport map { ${map} }\n  }\n}\n`
    await run('ip', ['netns', 'exec', s.ns, 'nft', 'list', 'table', 'ip', 'labdojo_twin'], { nothrow: true }).then(
      (r) => (r.code === 0 ? undefined : run('ip', ['netns', 'exec', s.ns, 'nft', '-f', '-'], { input: rules })),
    )
  }
}

/** Stop the relays (by pid); the rules go with their namespace. */
export async function latencyDown(l: TwinLayout): Promise<void> {
  for (const s of l.sites)
    for (const rtt of new Set(remoteTargets(l, s).map((t) => t.rttMs)))
      await stopOnce(join(s.dir, 'latency'), `delay-relay-${rtt}`, { match: 'delay-relay.mjs' })
}
