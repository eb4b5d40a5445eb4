/**
 * The twin's network: a router namespace (the WAN) with forwarding on, one namespace per region
 * linked to it, and a link from the workstation (the root namespace, which gains one route to
 * the twin's /16 and nothing else). Names resolve per namespace through /etc/netns/<ns>/hosts
 * (`ip netns exec` mounts it over /etc/hosts): the stand-in for the private DNS records that bind
 * the site endpoints (db-primary.use1.labdojo.internal) to the clusters' Services.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Runner } from '../../adapters/exec.ts'
import {
  addAddress,
  addLink,
  addNamespace,
  addRoute,
  deleteLink,
  deleteNamespace,
  enableForwarding,
  namespaces,
  setLink,
} from '../../adapters/netns.ts'
import type { TwinLayout, TwinSiteLayout } from './layout.ts'

const hostsDir = (ns: string) => join('/etc/netns', ns)

export async function networkUp(run: Runner, l: TwinLayout, names: Record<string, string>): Promise<void> {
  const existing = await namespaces(run)
  if (!existing.includes(l.wanNs)) {
    await addNamespace(run, l.wanNs)
    await enableForwarding(run, l.wanNs)
    await addLink(run, {
      a: { ns: null, ifname: l.rootIf, cidr: `${l.rootIp}/30` },
      b: { ns: l.wanNs, ifname: `${l.prefix}wan`, cidr: `${l.wanIp}/30` },
    })
    await addRoute(run, null, `${l.subnet}.0.0/16`, l.wanIp)
    // the traffic endpoint (Route53's answer) lives in the WAN: every region and the workstation reach it
    await addAddress(run, l.wanNs, 'lo', `${l.endpointIp}/32`)
    await addAddress(run, l.wanNs, 'lo', `${l.gcsIp}/32`)
  }
  for (const s of l.sites) if (!existing.includes(s.ns)) await regionUp(run, l, s)
  writeHosts(l, names)
}

async function regionUp(run: Runner, l: TwinLayout, s: TwinSiteLayout): Promise<void> {
  await addNamespace(run, s.ns)
  await addLink(run, {
    a: { ns: l.wanNs, ifname: `${l.prefix}r${s.index}`, cidr: `${s.gatewayIp}/24` },
    b: { ns: s.ns, ifname: `${l.prefix}r${s.index}x`, cidr: `${s.hostIp}/24` },
  })
  const inside = `${l.prefix}r${s.index}x`
  for (const ip of [s.serviceIp, s.apiIp, ...s.instances.map((i) => i.ip)])
    await addAddress(run, s.ns, inside, `${ip}/24`)
  await addRoute(run, s.ns, 'default', s.gatewayIp)
}

/** Every namespace resolves the twin's names (site endpoints -> Services). */
function writeHosts(l: TwinLayout, names: Record<string, string>): void {
  const lines = ['127.0.0.1 localhost', ...Object.entries(names).map(([name, ip]) => `${ip} ${name}`)].join('\n') + '\n'
  for (const ns of [l.wanNs, ...l.sites.map((s) => s.ns)]) {
    mkdirSync(hostsDir(ns), { recursive: true })
    writeFileSync(join(hostsDir(ns), 'hosts'), lines)
  }
}

/** Cut a region off the WAN (everything crossing its link), or join it again. */
export const setRegionLink = (run: Runner, l: TwinLayout, s: TwinSiteLayout, up: boolean) =>
  setLink(run, l.wanNs, `${l.prefix}r${s.index}`, up)

export async function networkDown(run: Runner, l: TwinLayout): Promise<void> {
  for (const s of l.sites) {
    await deleteNamespace(run, s.ns)
    rmSync(hostsDir(s.ns), { recursive: true, force: true })
  }
  await deleteNamespace(run, l.wanNs)
  rmSync(hostsDir(l.wanNs), { recursive: true, force: true })
  await deleteLink(run, l.rootIf)
}
