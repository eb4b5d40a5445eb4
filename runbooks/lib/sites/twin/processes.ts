/**
 * The twin's long-running processes, each started once inside a namespace as a given user, with
 * its pid file and log in its own directory (`<dir>/<name>.pid`, `<dir>/<name>.log`), and stopped
 * by that pid only while the pid still runs what was started (the name is in its command line).
 * And the one HTTP helper the stand-ins share.
 */
import { mkdirSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mkdirForSiteUser, pidAlive, readPid, startDetached, stopPid } from '../../adapters/process.ts'

const REPO = fileURLToPath(new URL('../../../../', import.meta.url))
const POSTGRES_ENV = { HOME: '/var/lib/postgresql', USER: 'postgres' }

/** root; postgres (Patroni, etcd, the exporters: no pod runs as root); nobody (the delay relays, which nftables lets pass) */
export type RunAs = 'root' | 'postgres' | 'nobody'

const identity: Record<Exclude<RunAs, 'root'>, string[]> = {
  postgres: ['--reuid=postgres', '--regid=postgres', '--init-groups'],
  nobody: ['--reuid=65534', '--regid=65534', '--clear-groups'],
}

export interface TwinProcess {
  dir: string
  /** the pid and log files' name */
  name: string
  /** what its command line holds (default: the name): a pid that runs something else is never signalled */
  match?: string
  ns: string
  as: RunAs
  cmd: string
  args: string[]
  env?: Record<string, string>
  /** a TypeScript entry: node with tsx, from the repository */
  typescript?: boolean
}

/** A command's argv and environment inside a namespace as a user (ip netns exec, then setpriv). */
export function inNamespace(ns: string, as: RunAs, argv: string[]): { argv: string[]; env: Record<string, string> } {
  const user = as === 'root' ? [] : ['setpriv', ...identity[as]]
  return { argv: ['netns', 'exec', ns, ...user, ...argv], env: as === 'postgres' ? POSTGRES_ENV : {} }
}

export function startOnce(p: TwinProcess): void {
  // a postgres process writes beside its pid file (etcd's data, Patroni's instance)
  if (p.as === 'postgres') mkdirForSiteUser(p.dir, 0o700)
  else mkdirSync(p.dir, { recursive: true })
  const pidFile = join(p.dir, `${p.name}.pid`)
  if (pidAlive(readPid(pidFile), p.match ?? p.name)) return
  const program = p.typescript ? [process.execPath, '--import', 'tsx', p.cmd] : [p.cmd]
  const inside = inNamespace(p.ns, p.as, [...program, ...p.args])
  startDetached('ip', inside.argv, {
    log: join(p.dir, `${p.name}.log`),
    pidFile,
    cwd: REPO,
    env: { NODE_OPTIONS: '', ...inside.env, ...p.env },
  })
}

export const stopOnce = (dir: string, name: string, o: { match?: string; graceMs?: number } = {}) =>
  stopPid(readPid(join(dir, `${name}.pid`)), o.match ?? name, o.graceMs)

/** An HTTP request's whole body, as text (the stand-ins' APIs). */
export const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let b = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (b += d))
    req.on('end', () => resolve(b))
  })
