/**
 * What a cluster's own files say, read from outside it: the server log (which timeline an
 * archive-fed standby follows, whether it is stranded), pg_controldata, and the commits in its
 * WAL (pg_waldump).
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type { Runner } from './exec.ts'
import { pgBin } from './postgres.ts'
import { segmentName } from '../../../core/wal.ts'

/**
 * The timeline an archive-fed standby actually replays, from its server log (this run of it).
 * History files in its pg_wal only say which timelines it has heard of: one that forked before
 * its replay point ("new timeline N forked off ... before current recovery point") is never
 * followed, and promoting the standby then would fork an abandoned history.
 */
export function followedTimeline(log: string): number | undefined {
  const start = Math.max(log.lastIndexOf('entering standby mode'), log.lastIndexOf('starting archive recovery'))
  const run = start >= 0 ? log.slice(start) : log
  // a target switch names the timeline before any of its segments arrives; without one (the target
  // was already the newest at start), the newest timeline whose segments it restored is the one it is on
  const timelines = [
    ...[...run.matchAll(/new target timeline is (\d+)/g)].map((m) => Number(m[1])),
    ...[...run.matchAll(/restored log file "([0-9A-F]{8})[0-9A-F]{16}"/g)].map((m) => parseInt(m[1]!, 16)),
  ]
  return timelines.length ? Math.max(...timelines) : undefined
}

/**
 * An archive-fed standby that replayed past the point where the primary's newer timeline forked
 * (PostgreSQL: "new timeline N forked off current database system timeline M before current
 * recovery point"): it can never follow. The timeline it cannot follow, if its current run says so.
 */
export function strandedBefore(log: string): number | undefined {
  const start = Math.max(log.lastIndexOf('entering standby mode'), log.lastIndexOf('starting archive recovery'))
  const run = start >= 0 ? log.slice(start) : log
  const m = [
    ...run.matchAll(
      /new timeline (\d+) forked off current database system timeline \d+ before current recovery point/g,
    ),
  ].at(-1)
  return m ? Number(m[1]) : undefined
}

/** A server log's last `maxBytes` (1 MiB: enough to reach back to a standby's last start); '' when there is none. */
export function serverLog(file: string, maxBytes = 1 << 20): string {
  if (!existsSync(file)) return ''
  const size = statSync(file).size
  const len = Math.min(size, maxBytes)
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, size - len)
    return buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/** The last lines of a server log ('' when there is none). */
export function logTail(file: string, lines: number): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : ''
}

/** What pg_controldata says about a (stopped or crashed) cluster's directory. */
export interface ControlData {
  state: string
  systemId: string
  timeline: number
  checkpoint: string
}

export function parseControlData(text: string): ControlData {
  const field = (name: string) => new RegExp(`^${name}:\\s+(.+)$`, 'm').exec(text)?.[1]?.trim() ?? ''
  return {
    state: field('Database cluster state'),
    systemId: field('Database system identifier'),
    timeline: Number(field("Latest checkpoint's TimeLineID")),
    checkpoint: field('Latest checkpoint location'),
  }
}

export async function controlData(run: Runner, dataDir: string): Promise<ControlData> {
  const r = await run(pgBin('pg_controldata'), ['-D', dataDir], {
    asSiteUser: true,
    env: { LC_ALL: 'C' },
    timeoutMs: 30_000,
  })
  return parseControlData(r.stdout)
}

/** A COMMIT record in a WAL stream. */
export interface WalCommit {
  lsn: string
  /** ms since epoch */
  time: number
}

/** COMMIT records in pg_waldump output (TZ=UTC). */
export function commitsIn(waldump: string): WalCommit[] {
  const out: WalCommit[] = []
  for (const line of waldump.split('\n')) {
    const m = /lsn: ([0-9A-F]+\/[0-9A-F]+),.*desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/.exec(line)
    if (m) out.push({ lsn: m[1]!, time: Date.parse(`${m[2]!.replace(' ', 'T')}Z`) })
  }
  return out
}

/**
 * The commits a stopped cluster's own pg_wal holds after an LSN (read with pg_waldump, which
 * stops at the end of valid WAL). Throws when the WAL cannot be read at all.
 */
export async function walCommitsAfter(
  run: Runner,
  dataDir: string,
  timeline: number,
  lsn: string,
): Promise<WalCommit[]> {
  const args = ['-p', `${dataDir}/pg_wal`, '-t', String(timeline), `--start=${lsn}`, '--rmgr=Transaction']
  const r = await run(pgBin('pg_waldump'), args, {
    asSiteUser: true,
    nothrow: true,
    env: { TZ: 'UTC' },
    timeoutMs: 120_000,
  })
  const commits = commitsIn(r.stdout)
  // pg_waldump exits 1 at the end of valid WAL; that is the normal end, not a failure
  const endOfWal =
    /invalid record length|could not find a valid record|record with incorrect prev-link|invalid magic number|record length .* at .* too long|contrecord is requested/i
  // no file for the start segment at all: nothing was written from there on
  const nothingAfter = r.stderr.includes(`could not find file "${segmentName(timeline, lsn)}"`)
  if (r.code !== 0 && !commits.length && !endOfWal.test(r.stderr) && !nothingAfter)
    throw new Error(r.stderr.trim().split('\n').at(-1) ?? `pg_waldump exit ${r.code}`)
  return commits
}

/** The path with every symlink of its existing part resolved (the rest, not yet made, appended as is). */
export function realPath(path: string): string {
  const abs = resolve(path)
  if (existsSync(abs)) return realpathSync(abs)
  const parent = dirname(abs)
  return parent === abs ? abs : join(realPath(parent), basename(abs))
}

/** A directory inside a PostgreSQL data directory (any, the site's or not), if it is. */
export function insideDataDirectory(path: string): string | undefined {
  for (let p = dirname(realPath(path)); p !== dirname(p); p = dirname(p))
    if (existsSync(join(p, 'PG_VERSION'))) return `is inside the PostgreSQL data directory ${p}`
  return undefined
}
