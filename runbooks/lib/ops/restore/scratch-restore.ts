/**
 * One restore into a scratch cluster, for every procedure that builds one (restore.ts into a new
 * cluster on the local site or from a cloud stack's vaults, a proof's held restore, the in-place
 * restore's staging): pgBackRest restores the set, the host writes the cluster's own settings,
 * the server starts, and recovery is awaited to the target, held there paused (read-only) or
 * promoted. A server that exits during recovery fails at once with the reason its log gives. On
 * any failure the cluster is stopped and, unless the caller keeps it, what the restore wrote is
 * removed: nothing else was touched.
 */
import { existsSync } from 'node:fs'
import type { RestorePlan } from '../../../../core/recovery.ts'
import { firstLine } from '../../../../core/errors.ts'
import { logTail } from '../../adapters/cluster-files.ts'
import { postmasterPid, probe } from '../../adapters/postgres.ts'
import { mkdirForSiteUser } from '../../adapters/process.ts'
import type { AuditLog } from '../../output/audit.ts'
import { Interrupted } from '../../output/interrupt.ts'
import type { RepoAccess, ScratchCluster, ScratchHost } from '../../sites/ports.ts'
import { emptyDir, RecoveryStopped, recoveryFailureIn, replayPaused, restoreArgs, waitForRecovery } from './cluster.ts'

export interface ScratchRestoreOptions {
  /** promote: end recovery at the target; hold: pause there (latest: stay a standby) */
  mode: 'promote' | 'hold'
  /** the restore's audit steps (a proof records its own, around this) */
  audit?: AuditLog
  /** the copy's step name (default: pgbackrest restore) */
  what?: string
  /** runs while pgBackRest copies the files (a proof closes the WAL it needs meanwhile); a failure fails the restore */
  beside?: () => Promise<void>
  /** called once the files are copied */
  copied?: () => void
  /** when a held restore counts as at its target (default: replay paused; a standby held at latest needs its own) */
  reached?: () => Promise<boolean>
  /** on failure, leave what was written for the caller (a kept proof) */
  keepOnFailure?: boolean
  /** what must hold before the cluster counts (its tables, a write); a failure here removes it like any other */
  check?: (conn: ReturnType<ScratchHost['conn']>) => Promise<void>
}

/** Why a scratch restore failed: pgBackRest's copy, or the cluster's start and recovery. */
export class ScratchRestoreFailed extends Error {
  constructor(
    readonly stage: 'copy' | 'recovery',
    /** the cause in one line, with the server log's reason when it gives one */
    readonly why: string,
    readonly logTail: string,
    /** the server log named the reason (else `why` is the error alone, and the log's tail says more) */
    readonly explained: boolean,
    options?: { cause: unknown },
  ) {
    super(why, options)
    this.name = 'ScratchRestoreFailed'
  }
}

/** Restore `plan` into `c` and check it; timings (seconds): the copy, the server's start (to accepting connections), the start and recovery together. */
export async function restoreIntoScratch(
  host: ScratchHost,
  repos: RepoAccess,
  plan: RestorePlan,
  c: ScratchCluster,
  o: ScratchRestoreOptions,
): Promise<{ copySeconds: number; startSeconds: number; recoverySeconds: number }> {
  const created = !existsSync(c.dir)
  mkdirForSiteUser(c.dir, 0o700)
  const step = <T>(what: string, fn: () => Promise<T>, details?: Record<string, unknown>) =>
    o.audit ? o.audit.step(what, fn, details) : fn()
  const t0 = Date.now()
  const at = { copied: 0, started: 0, reached: 0 }
  try {
    await copy(repos, plan, c, o, step)
    at.copied = Date.now()
    const options = host.settle(c)
    await step('start restored cluster', () => host.pg.start(c.dir, c.logFile, options, undefined, c.env), {
      port: c.port,
    })
    at.started = Date.now()
    const conn = host.conn(c, 'postgres')
    const promoted = async () => (await probe(c.name, conn)).inRecovery === false
    const reached = o.reached ?? (o.mode === 'hold' ? () => replayPaused(conn) : promoted)
    const what =
      o.mode === 'hold' ? 'the restore to pause at its target' : 'the restored cluster to finish recovery and promote'
    await waitForRecovery(what, { dir: c.dir, logFile: c.logFile, repo: plan.repo }, reached)
    at.reached = Date.now()
    await o.check?.(host.conn(c))
  } catch (e) {
    if (postmasterPid(c.dir)) await host.pg.stop(c.dir, 'immediate').catch(() => {})
    // the log is read before what the restore wrote is removed (it lies inside); a failed check is its own
    const recovering = at.copied && !at.reached && !(e instanceof Interrupted)
    const error = recovering ? recoveryFailed(plan, c, e) : e
    if (!o.keepOnFailure) {
      emptyDir(c.dir, created)
      host.release?.(c)
    }
    throw error
  }
  const seconds = (from: number, to: number) => (to - from) / 1000
  return {
    copySeconds: seconds(t0, at.copied),
    startSeconds: seconds(at.copied, at.started),
    recoverySeconds: seconds(at.copied, at.reached),
  }
}

/** One message for a restore that did not serve: the cause, the server log's words, and that nothing else changed. */
/**
 * A new cluster that will serve: restored, promoted and checked, or removed with the reason and
 * the server log's tail. Timings (seconds): the copy, the server's start, start and recovery.
 */
export async function restorePromoted(
  host: ScratchHost,
  repos: RepoAccess,
  plan: RestorePlan,
  c: ScratchCluster,
  o: Pick<ScratchRestoreOptions, 'audit' | 'what' | 'check'>,
): Promise<{ restoreSeconds: number; startSeconds: number; recoverySeconds: number }> {
  const t = await restoreIntoScratch(host, repos, plan, c, { mode: 'promote', ...o }).catch((e) => {
    throw restoreFailed(e)
  })
  return { restoreSeconds: t.copySeconds, startSeconds: t.startSeconds, recoverySeconds: t.recoverySeconds }
}

function restoreFailed(e: unknown): Error {
  const tail = e instanceof ScratchRestoreFailed ? e.logTail : ''
  return new Error(
    `${(e as Error).message}${tail ? `\nserver log:\n${tail}` : ''}\nthe partial restore was removed; nothing else was touched`,
    { cause: e },
  )
}

/** pgBackRest's copy, with what runs beside it; both run to the end, the copy's failure is told first. */
async function copy(
  repos: RepoAccess,
  plan: RestorePlan,
  c: ScratchCluster,
  o: ScratchRestoreOptions,
  step: <T>(what: string, fn: () => Promise<T>, details?: Record<string, unknown>) => Promise<T>,
): Promise<void> {
  const args = restoreArgs(repos, plan, c.dir, o.mode)
  const details = { dir: c.dir, repo: plan.repo, set: plan.backup.label }
  const [restored, beside] = await Promise.allSettled([
    step(o.what ?? 'pgbackrest restore', () => repos.br.restore(args, { env: c.env }), details).then(() =>
      o.copied?.(),
    ),
    o.beside?.(),
  ])
  if (restored.status === 'rejected') {
    const e = restored.reason as Error
    if (e instanceof Interrupted) throw e // a signal before the copy began: not the copy's failure
    throw new ScratchRestoreFailed('copy', e.message.split('\n').slice(0, 3).join(' '), '', true, { cause: e })
  }
  if (beside.status === 'rejected') throw beside.reason
}

/** Why the cluster's start or recovery failed, from its server log when it says (the server can exit before pg_ctl reports it started). */
function recoveryFailed(plan: RestorePlan, c: ScratchCluster, e: unknown): ScratchRestoreFailed {
  if (e instanceof RecoveryStopped)
    return new ScratchRestoreFailed('recovery', e.message, e.logTail, true, { cause: e })
  const why = recoveryFailureIn(c.logFile, plan.repo, c.dir)
  return new ScratchRestoreFailed('recovery', why ?? firstLine(e), logTail(c.logFile, 8), !!why, { cause: e })
}
