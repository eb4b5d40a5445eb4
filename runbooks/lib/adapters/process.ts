/**
 * Long-running helpers (s3rver, the workload writer) started detached with a pid file, and
 * stopped by that pid only after checking the pid still runs what we started.
 */
import { spawn } from 'node:child_process'
import { existsSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, chownSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { isRoot, SITE_USER } from './exec.ts'
import { checkInterrupted, Interrupted } from '../output/interrupt.ts'

export interface SiteIds {
  uid: number
  gid: number
  home: string
}

let cachedIds: SiteIds | undefined
export function siteIds(): SiteIds {
  if (cachedIds) return cachedIds
  if (!isRoot()) {
    cachedIds = { uid: process.getuid!(), gid: process.getgid!(), home: process.env.HOME ?? '/tmp' }
  } else {
    const line = execFileSync('getent', ['passwd', SITE_USER], { encoding: 'utf8' }).trim().split(':')
    cachedIds = { uid: Number(line[2]), gid: Number(line[3]), home: line[5]! }
  }
  return cachedIds
}

/** mkdir -p, giving every directory it creates to the site user. */
export function mkdirForSiteUser(path: string, mode = 0o750): void {
  const missing: string[] = []
  for (let p = path; !existsSync(p); p = dirname(p)) missing.unshift(p)
  for (const p of missing) {
    mkdirSync(p, { mode })
    giveToSiteUser(p)
  }
}

/** chown a path to the site user when we are root (no-op otherwise). */
export function giveToSiteUser(path: string): void {
  if (isRoot()) chownSync(path, siteIds().uid, siteIds().gid)
}

/** Every file under a directory, recursively. */
export function walkFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walkFiles(join(dir, e.name)) : [join(dir, e.name)],
  )
}

export function pidAlive(pid: number | undefined, cmdlineHas?: string): boolean {
  if (!pid || !processAlive(pid)) return false
  if (!cmdlineHas) return true
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cmdlineHas)
  } catch {
    return false
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined
  const n = Number(readFileSync(file, 'utf8').trim().split('\n')[0])
  return Number.isInteger(n) && n > 0 ? n : undefined
}

export function startDetached(
  cmd: string,
  args: string[],
  o: { log: string; pidFile: string; env?: NodeJS.ProcessEnv; asSiteUser?: boolean; cwd?: string },
): number {
  const fd = openSync(o.log, 'a', 0o600)
  if (o.asSiteUser) giveToSiteUser(o.log)
  const ids = o.asSiteUser && isRoot() ? siteIds() : undefined
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...(ids ? { HOME: ids.home, USER: SITE_USER } : {}), ...o.env },
    uid: ids?.uid,
    gid: ids?.gid,
    cwd: o.cwd,
  })
  child.unref()
  writeFileSync(o.pidFile, `${child.pid}\n`)
  return child.pid!
}

export async function stopPid(pid: number | undefined, cmdlineHas: string, graceMs = 5000): Promise<boolean> {
  if (!pidAlive(pid, cmdlineHas)) return false
  process.kill(pid!, 'SIGTERM')
  const until = Date.now() + graceMs
  while (Date.now() < until) {
    if (!pidAlive(pid)) return true
    await sleep(50)
  }
  if (pidAlive(pid, cmdlineHas)) process.kill(pid!, 'SIGKILL') // also ends a stopped (SIGSTOP) process
  for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50)
  return true
}

/** The pids whose argv (as /proc shows it) satisfies `match`. */
export function processesWith(match: (argv: string[]) => boolean): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (match(readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0'))) out.push(Number(e))
    } catch {
      // gone while we looked
    }
  }
  return out
}

/** The direct children of a process, from /proc (a postmaster's backends and workers). */
export function childPids(pid: number): number[] {
  const kids: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(e))
    } catch {
      // gone while we looked
    }
  }
  return kids
}

/**
 * kill -9 of a process and its direct children, as the loss of its host: resolves only once
 * none of them runs (a killed postmaster's backends would otherwise answer for a moment).
 */
export async function killTree(pid: number): Promise<void> {
  const all = [pid, ...childPids(pid)]
  for (const p of all) {
    try {
      process.kill(p, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await waitFor(`pid ${pid} and its children to die`, async () => all.every((p) => !processAlive(p)), 30_000, 10)
}

export async function stopByPidFile(file: string, cmdlineHas: string, graceMs?: number): Promise<boolean> {
  const stopped = await stopPid(readPid(file), cmdlineHas, graceMs)
  rmSync(file, { force: true })
  return stopped
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Poll until `fn` returns a truthy value. A thrown error is remembered and polling goes on,
 * unless `fatal` says the error is final: then it is rethrown at once.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 100,
  fatal?: (e: unknown) => boolean,
): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    checkInterrupted()
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      if (fatal?.(e) || e instanceof Interrupted) throw e
      last = e
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      )
    await sleep(everyMs)
  }
}

/** Alive and not a zombie (a killed postmaster stays a zombie until init reaps it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** A file-name-safe timestamp (20261127T093012), for directories kept aside. */
export const stamp = () => new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)
