/**
 * What every restore does with the cluster it builds: pgBackRest's restore arguments, the
 * options a restored cluster starts with (never archiving into the stanza), where its recovery
 * stopped, and the checks that it holds the LabDojo data and takes a write.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { availableParallelism } from 'node:os'
import type { RestorePlan } from '../../../../core/recovery.ts'
import { postmasterPid, query, type Conn } from '../../adapters/postgres.ts'
import { proveWritable } from '../write-check.ts'
import { logTail } from '../../adapters/cluster-files.ts'
import { waitFor } from '../../adapters/process.ts'
import { nextSegment, segmentName } from '../../../../core/wal.ts'
import type { RepoAccess, ScratchCluster } from '../../sites/ports.ts'
import { LABDOJO_TABLES } from '../../../../core/platform.ts'

/** pgBackRest processes a restore runs with (backups keep the configured process-max: they must not starve the primary). */
export const RESTORE_PROCESSES = Math.min(8, 2 * availableParallelism())

/**
 * pgBackRest restore arguments. 'promote': a new cluster that ends recovery at the target and
 * never archives; 'hold': recovery pauses at the target (or, for latest, stays a standby) so it
 * can be verified read-only before anything else changes.
 */
export function restoreArgs(repos: RepoAccess, plan: RestorePlan, dir: string, mode: 'promote' | 'hold'): string[] {
  let target = plan.targetArgs
  if (mode === 'hold')
    target =
      plan.target.kind === 'latest'
        ? ['--type=standby']
        : target.map((a) => (a === '--target-action=promote' ? '--target-action=pause' : a))
  // WAL comes from the same repo the backup came from (the cold site has only repo2), fetched
  // synchronously: an async get waits for segments that do not exist yet, and its spool queue
  // belongs to the site's own standbys
  const getWal = repos.br.commandLine(dir, `--repo=${plan.repo} --archive-async=n archive-get %f "%p"`)
  return [
    `--pg1-path=${dir}`,
    `--repo=${plan.repo}`,
    `--set=${plan.backup.label}`,
    '--no-delta', // an empty directory: nothing to compare against
    // a restore is the RTO: twice as many processes as cores keeps each busy while the others
    // wait on the disk (measured at scale 1 on 2 cores: the copy 2.73 s median with 4, 3.0 s with 2)
    `--process-max=${RESTORE_PROCESSES}`,
    // a restore empties its stanza's spool; the site's own spool holds the primary's archive-push
    // status files, and losing them stalls its archiving for archive-timeout (measured: 60 s)
    ...(repos.restoreSpool ? [`--spool-path=${repos.restoreSpool}`] : []),
    ...target,
    ...(mode === 'promote' || repos.neverArchive ? ['--archive-mode=off'] : []),
    `--recovery-option=restore_command=${getWal}`,
  ]
}

/** What the server log says recovery reached. */
export function reachedFromLog(text: string): { time: string | null; lsn: string | null; detail: string | null } {
  const stop = /recovery stopping (before|after) (commit|abort) of transaction \d+, time ([\d\- :.+]+)/.exec(text)
  const last = [...text.matchAll(/last completed transaction was at log time ([\d\- :.+]+)/g)].at(-1)
  const redo = [...text.matchAll(/redo done at ([0-9A-F]+\/[0-9A-F]+)/g)].at(-1)
  const point =
    /recovery stopping at (restore point "[^"]+"|after reaching consistency|WAL location \(LSN\) "[^"]+")/.exec(text)
  const pause = /(recovery has paused|pausing at the end of recovery)/.exec(text)
  // what was recovered: the last completed transaction (the stopping one is excluded when 'before')
  const time = last?.[1] ?? (stop?.[1] === 'after' ? stop[3] : null) ?? null
  let detail: string | null = null
  if (stop) detail = `stopped ${stop[1]} ${stop[2]} at ${stop[3]}`
  else if (point) detail = `stopped at ${point[1]}`
  else if (pause) detail = pause[1]!
  return {
    time: time
      ? new Date(
          time
            .trim()
            .replace(' ', 'T')
            .replace(/([+-]\d\d)$/, '$1:00'),
        ).toISOString()
      : null,
    lsn: redo?.[1] ?? null,
    detail,
  }
}

/** The restored cluster holds the LabDojo tables and answers; `write` also proves it accepts a write. */
export async function verifyTables(conn: Conn, write = false): Promise<void> {
  await requireTables(conn)
  if (write) await proveWritable(conn, { note: 'restored into a new cluster' })
}

/**
 * Every table of the platform is there, and users reads: in one schema, the first the session
 * searches that holds them all (public on the local site; on a PGO cluster the application
 * user's own schema, which the runbooks' role searches first), else any schema that does (a
 * restored cluster read as postgres).
 */
export async function requireTables(conn: Conn): Promise<void> {
  const rows = await query<{ s: string; t: string; searched: number | null }>(
    conn,
    `SELECT schemaname AS s, tablename AS t, array_position(current_schemas(false), schemaname::text) AS searched
       FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
  )
  const bySchema = new Map<string, { tables: Set<string>; searched: number | null }>()
  for (const r of rows) {
    const e = bySchema.get(r.s) ?? { tables: new Set<string>(), searched: r.searched }
    e.tables.add(r.t)
    bySchema.set(r.s, e)
  }
  const complete = [...bySchema]
    .filter(([, e]) => LABDOJO_TABLES.every((t) => e.tables.has(t)))
    .sort(([, a], [, b]) => (a.searched ?? Infinity) - (b.searched ?? Infinity))
  if (!complete.length) {
    const best = [...bySchema.values()].sort((a, b) => b.tables.size - a.tables.size)[0]
    const missing = LABDOJO_TABLES.filter((t) => !best?.tables.has(t))
    throw new Error(`the restored cluster lacks tables ${missing.join(', ')}`)
  }
  const schema = complete[0]![0].replace(/"/g, '""')
  await query(conn, `SELECT count(*) FROM "${schema}".users`)
}

/** Is a cluster's replay paused (at its recovery target, or by pg_wal_replay_pause)? */
export async function replayPaused(conn: Conn): Promise<boolean> {
  return (await query<{ s: string }>(conn, `SELECT pg_get_wal_replay_pause_state()::text AS s`))[0]?.s === 'paused'
}

/**
 * Promote a restore held paused at its target. A resume promotes it at once; pg_promote would
 * wait up to a second for the paused startup process to look again (measured: 1.0 s of 1.25 s).
 */
export async function promoteHeld(conn: Conn): Promise<void> {
  await query(conn, 'SELECT pg_wal_replay_resume()')
  await waitFor(
    'the restored cluster to promote',
    async () => (await query<{ r: boolean }>(conn, 'SELECT pg_is_in_recovery() AS r'))[0]!.r === false,
    120_000,
  )
}

/** Has a cluster replayed up to an LSN. */
export async function caughtUp(conn: Conn, lsn: string): Promise<boolean> {
  const sql = `SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok`
  const [r] = await query<{ ok: boolean }>(conn, sql, [lsn])
  return !!r?.ok
}

/** Remove what a failed restore wrote: the directory if the restore created it, else its contents. */
export function emptyDir(dir: string, created: boolean): void {
  if (created) rmSync(dir, { recursive: true, force: true })
  else for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true })
}

/**
 * Why recovery stopped, from the server log of a cluster that exited during recovery: a WAL
 * segment the target needs could not be had from the archive (pgBackRest names it when it
 * cannot read it; else it is the one after the last segment restored), or the log's last error.
 */
/** What PostgreSQL logs when the archive ran out: before the target, or before the backup was even consistent. */
const ENDED_EARLY =
  /recovery ended before configured recovery target was reached|WAL ends before (?:end of online backup|consistent recovery point)/

export function recoveryFailure(log: string, repo: number, backupLabel?: string): string {
  const early = ENDED_EARLY.exec(log)
  if (early) {
    const unreadable = [...log.matchAll(/unable to get ([0-9A-F]{24}):\s*\n?\s*(.*)/g)].at(-1)
    const restored = [...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].at(-1)?.[1]
    const segment = unreadable?.[1] ?? (restored ? nextSegment(restored) : undefined)
    const detail = unreadable?.[2]?.trim() ?? (restored ? `the last segment restored was ${restored}` : '')
    const before = early[0].startsWith('WAL ends') ? 'the backup was consistent' : 'the target'
    // a time target, nothing unreadable: the archive may simply end there, no commit after the target archived yet
    const timeTarget = /starting point-in-time recovery to \d{4}-\d\d-\d\d/.test(log)
    if (!unreadable && restored && before === 'the target' && timeTarget)
      return `recovery ended before the target: it replayed repo${repo}'s archived WAL up to ${restored} and found no commit after the target. Either no commit after it had been archived yet (the newest WAL is still on the primary: restore again once it is archived, or pick an earlier target), or ${nextSegment(restored)} is missing from the archive (catalog.ts shows each repo's gaps and windows; --repo picks another)`
    const what = segment
      ? `${segment} is missing from repo${repo}'s WAL archive or unreadable (${detail})`
      : `repo${repo}'s WAL archive has a gap`
    return `recovery ended before ${before}: ${what}. Check the catalog (catalog.ts) for the windows each repo really covers, or restore from another repo with --repo`
  }
  const fatal = [...log.matchAll(/(?:FATAL|PANIC):\s+(.+)/g)].at(-1)?.[1]
  if (fatal === 'could not locate required checkpoint record' && backupLabel) {
    // the checkpoint record the backup starts from (backup_label), in its segment on the start's timeline
    const first = /^START WAL LOCATION: .*\(file ([0-9A-F]{24})\)/m.exec(backupLabel)?.[1]
    const checkpoint = /^CHECKPOINT LOCATION: ([0-9A-F]+\/[0-9A-F]+)/m.exec(backupLabel)?.[1]
    if (first && checkpoint) {
      const seg = segmentName(parseInt(first.slice(0, 8), 16), checkpoint)
      return `recovery could not start: ${seg} is missing from repo${repo}'s WAL archive or unreadable, and it holds the backup's starting checkpoint (backup_label). Check the catalog (catalog.ts), or restore from another repo with --repo`
    }
  }
  return `the restored cluster stopped during recovery${fatal ? `: ${fatal}` : ''}`
}

/** The reason a restored cluster's start or recovery failed, when its log says recovery ended early. */
export function recoveryFailureIn(logFile: string, repo: number, dataDir?: string): string | undefined {
  const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
  if (ENDED_EARLY.test(text)) return recoveryFailure(text, repo)
  const label =
    dataDir && existsSync(join(dataDir, 'backup_label')) ? readFileSync(join(dataDir, 'backup_label'), 'utf8') : ''
  if (label && /could not locate required checkpoint record/.test(text)) return recoveryFailure(text, repo, label)
  return undefined
}

/**
 * Wait for a restored cluster's recovery to reach a condition, failing at once (not after the
 * 4-hour guard) when the server exits instead, with the reason its log gives.
 */
export async function waitForRecovery(
  what: string,
  cluster: { dir: string; logFile: string; repo: number },
  reached: () => Promise<boolean>,
): Promise<void> {
  await waitFor(
    what,
    async () => {
      if (!postmasterPid(cluster.dir)) {
        const text = existsSync(cluster.logFile) ? readFileSync(cluster.logFile, 'utf8') : ''
        throw new RecoveryStopped(recoveryFailure(text, cluster.repo), logTail(cluster.logFile, 8))
      }
      return reached()
    },
    4 * 3600_000,
    100,
    (e) => e instanceof RecoveryStopped,
  )
}

/** The restored cluster exited before its recovery reached the target. */
export class RecoveryStopped extends Error {
  constructor(
    message: string,
    readonly logTail: string,
  ) {
    super(message)
    this.name = 'RecoveryStopped'
  }
}

/** A restored cluster being built beside a site node: its directory, port, server log and time stamp. */
export interface Staging {
  dir: string
  port: number
  logFile: string
  stamp: string
}

/** The staged copy as a scratch cluster: written durably (it becomes the primary). */
export const stagingCluster = (s: Staging): ScratchCluster => ({
  dir: s.dir,
  port: s.port,
  logFile: s.logFile,
  name: `restore-${s.port}`,
  synced: true,
  env: {},
})
