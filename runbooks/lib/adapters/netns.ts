/**
 * Network namespaces (iproute2, as root): separate network hosts on one machine, joined by veth
 * pairs, cut by setting a link down. Only namespaces and links this project names are touched.
 */
import type { Runner } from './exec.ts'

export interface Link {
  /** the interface's name on each side (at most 15 characters) */
  a: { ns: string | null; ifname: string; cidr?: string }
  b: { ns: string | null; ifname: string; cidr?: string }
}

const ip = (ns: string | null, args: string[]) => (ns ? ['-n', ns, ...args] : args)

export async function namespaces(run: Runner): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { nothrow: true })
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean)
}

export async function addNamespace(run: Runner, ns: string): Promise<void> {
  if ((await namespaces(run)).includes(ns)) return
  await run('ip', ['netns', 'add', ns])
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
}

/** Delete a namespace: its processes must be gone first (a namespace with live processes stays until they end). */
export async function deleteNamespace(run: Runner, ns: string): Promise<void> {
  if ((await namespaces(run)).includes(ns)) await run('ip', ['netns', 'delete', ns])
}

/** A veth pair between two namespaces (null: the root namespace), each side addressed and up. */
export async function addLink(run: Runner, l: Link): Promise<void> {
  await run('ip', ['link', 'add', l.a.ifname, 'type', 'veth', 'peer', 'name', l.b.ifname])
  for (const side of [l.a, l.b]) {
    if (side.ns) await run('ip', ['link', 'set', side.ifname, 'netns', side.ns])
    if (side.cidr) await run('ip', ip(side.ns, ['addr', 'add', side.cidr, 'dev', side.ifname]))
    await run('ip', ip(side.ns, ['link', 'set', side.ifname, 'up']))
  }
}

export async function addAddress(run: Runner, ns: string | null, ifname: string, cidr: string): Promise<void> {
  await run('ip', ip(ns, ['addr', 'add', cidr, 'dev', ifname]))
}

export async function addRoute(run: Runner, ns: string | null, to: string, via: string): Promise<void> {
  await run('ip', ip(ns, ['route', 'replace', to, 'via', via]))
}

/** A root-namespace interface this project made (a veth end): deleting it deletes its peer too. */
export async function deleteLink(run: Runner, ifname: string): Promise<void> {
  // the peer's namespace may be going away at the same moment, taking this end with it
  const r = await run('ip', ['link', 'delete', ifname], { nothrow: true })
  if (r.code !== 0 && !/Cannot find device/.test(r.stderr))
    throw new Error(`ip link delete ${ifname}: ${r.stderr.trim()}`)
}

/** Set a link down or up: a partition of everything crossing it. */
export async function setLink(run: Runner, ns: string | null, ifname: string, up: boolean): Promise<void> {
  await run('ip', ip(ns, ['link', 'set', ifname, up ? 'up' : 'down']))
}

/** Forwarding inside a namespace (its own sysctl; the root namespace's is never changed). */
export async function enableForwarding(run: Runner, ns: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
}
