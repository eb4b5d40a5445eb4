/**
 * One mutating runbook at a time on a site: the lock file (the only writer of it) names the
 * holder's pid and command. A second runbook is refused with that name; a lock whose holder is
 * gone is stale and taken over, with a warning. The lock is released when the process exits.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { InputError } from '../../../../core/errors.ts'
import { pidAlive, sleep } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import type { Layout } from './layout.ts'

export interface LockHolder {
  pid: number
  command: string
  since: string
}

export const lockFile = (layout: Layout) => join(layout.stateDir, 'runbook.lock')

function readHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockHolder
  } catch {
    return undefined
  }
}

function tryCreate(file: string, holder: LockHolder): boolean {
  try {
    const fd = openSync(file, 'wx', 0o644)
    writeSync(fd, JSON.stringify(holder) + '\n')
    closeSync(fd)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
}

/**
 * Take the site lock for this process, waiting up to `waitMs` for a live holder to finish.
 * Returns the release function (also run at exit).
 */
export async function acquireSiteLock(layout: Layout, command: string, waitMs = 0): Promise<() => void> {
  const file = lockFile(layout)
  const me: LockHolder = { pid: process.pid, command, since: new Date().toISOString() }
  const until = Date.now() + waitMs
  for (;;) {
    if (existsSync(layout.stateDir) && tryCreate(file, me)) break
    if (!existsSync(layout.stateDir)) return () => {} // no site yet: nothing to guard
    const holder = readHolder(file)
    if (holder?.pid === process.pid) break
    if (!holder || !pidAlive(holder.pid, 'node')) {
      log.warn(
        `a stale site lock from pid ${holder?.pid ?? '?'} (${holder?.command ?? 'unreadable'}) was left by a runbook that ended without releasing it; taking it over`,
      )
      rmSync(file, { force: true })
      continue
    }
    if (Date.now() >= until)
      throw new InputError('site lock', [
        {
          key: 'site lock',
          value: `${file}`,
          message: `another runbook is changing this site: pid ${holder.pid} (${holder.command}) since ${holder.since}`,
          fix: 'wait for it to finish (Ctrl-C stops it at a safe point); nothing was changed',
        },
      ])
    await sleep(250)
  }
  const release = () => {
    if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true })
  }
  process.on('exit', release)
  return release
}
