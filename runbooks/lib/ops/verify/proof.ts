/**
 * Proving one backup restorable, wherever it and its reference live (the local site's repos and
 * warm standby, a cloud stack's vaults and warm site), as named steps: pause the reference at an
 * exact LSN X; restore the backup with its repo's WAL to exactly X (stopping before the record
 * that starts at X) into a scratch cluster held paused and read-only, reading the reference once
 * the files are copied; read the restore while it promotes and takes a write, then check its
 * structure; compare table by table; resume the reference. Without a reference (a stack with no
 * warm site) the restore promotes, takes a write and is checked for structure only. The site
 * gives the scratch host, the repos and the reference (sites/ports.ts); the caller builds and
 * removes the scratch cluster and judges the objectives. Never archives into a repo; never
 * touches a primary or a standby beyond the pause.
 */
import type { CatalogBackup, RestorePlan } from '../../../../core/recovery.ts'
import { lsnToBigInt } from '../../../../core/wal.ts'
import { targetArgs } from '../../../../core/recovery-target.ts'
import type { Runner } from '../../adapters/exec.ts'
import { query, type Conn } from '../../adapters/postgres.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import type { ReferenceSource, RepoAccess, ScratchCluster, ScratchHost } from '../../sites/ports.ts'
import { promoteHeld } from '../restore/cluster.ts'
import { restoreIntoScratch, ScratchRestoreFailed } from '../restore/scratch-restore.ts'
import { proveWritable } from '../write-check.ts'
import { inequality, ProofFailed, tableDifferences } from './compare.ts'
import { fingerprint, type Fingerprint, type TableDifference } from './fingerprint.ts'
import { nextRecordArchived, pauseAt, resumeReplay, type Reference } from './reference.ts'
import { checkStructure, structureProblems, type StructureOptions, type StructureReport } from './structure.ts'

export interface Proof {
  backup: string | null
  backupType: string | null
  repo: number
  verdict: 'proven' | 'failed'
  /** one sentence: what was proven, or what is wrong */
  reason: string
  /** pgBackRest's verify of every file against its checksum, when the proof ran it (cloud vaults) */
  checksums: { ok: boolean; problems: string[] } | null
  /** the standby compared against, where it was paused (null: none, structure only) */
  reference: Omit<Reference, 'fingerprint'> | null
  lsn: string | null
  tables: number
  rows: number
  digest: string | null
  differences: TableDifference[]
  structure: StructureReport | null
  objectives: {
    /** restore and replay, then promote and take a write */
    rtoSeconds: number | null
    rtoTargetSeconds: number
    rpoGapSeconds: number | null
    rpoTargetSeconds: number
  }
  timings: Record<string, number>
  /** synced: written durably (kept ones); else its RTO leaves out the syncing a real restore does */
  scratch: { dir: string; port: number; kept: boolean; synced: boolean }
  at: string
  /** how the ledger record went (appended, copied offsite or not yet) */
  ledger?: string
}

/** The scratch cluster a proof restores into, reached in the database it compares. */
export interface ProofScratch extends ScratchCluster {
  conn: Conn & { database: string }
  /** how deep its structure is checked */
  checks: StructureOptions
}

/** What one proof works on: the site's parts and the backup. */
export interface ProofInput {
  run: Runner
  host: ScratchHost
  repos: RepoAccess
  backup: CatalogBackup
  scratch: ProofScratch
  /** the standby to compare against; none: structure only */
  reference?: ReferenceSource
  audit: AuditLog
}

export function emptyProof(
  b: { label: string | null; type: string | null; repo: number },
  s: ScratchCluster,
  kept: boolean,
  tier1: { rto: number; rpo: number },
): Proof {
  return {
    backup: b.label,
    backupType: b.type,
    repo: b.repo,
    verdict: 'failed',
    reason: '',
    checksums: null,
    reference: null,
    lsn: null,
    tables: 0,
    rows: 0,
    digest: null,
    differences: [],
    structure: null,
    objectives: { rtoSeconds: null, rtoTargetSeconds: tier1.rto, rpoGapSeconds: null, rpoTargetSeconds: tier1.rpo },
    timings: {},
    scratch: { dir: s.dir, port: s.port, kept, synced: s.synced },
    at: new Date().toISOString(),
  }
}

/** The proof's steps, filling `p`; a difference, another LSN or a structure problem throws ProofFailed. */
export async function prove(i: ProofInput, p: Proof): Promise<void> {
  const t0 = Date.now()
  if (i.reference) await proveAtReference(i, i.reference, p)
  else await proveAlone(i, p)
  p.timings.proofSeconds = (Date.now() - t0) / 1000
  p.objectives.rtoSeconds = (p.timings.restoreSeconds ?? 0) + (p.timings.promoteToWriteSeconds ?? 0)
  const problems = p.structure ? structureProblems(p.structure) : ['its structure was not checked']
  if (problems.length) throw new ProofFailed(`${p.backup} from repo${p.repo} restores, but ${problems.join('; ')}`)
}

/**
 * With the reference paused at X throughout and replaying again after: the backup restored and
 * held at X; the reference read once the files are copied (the copy is CPU-bound: read beside
 * it, it took the copy twice as long), beside recovery, which waits on one WAL segment at a
 * time; the restored rows read while it promotes and takes a write (promotion changes no row;
 * nothing else connects to it); then the comparison, table by table. The reference is never
 * resumed under a read.
 */
async function proveAtReference(i: ProofInput, src: ReferenceSource, p: Proof): Promise<void> {
  const ref = await pauseAt(src, i.backup.lsnStop)
  p.reference = ref
  p.lsn = ref.lsn
  const t = Date.now()
  let reading: Promise<Fingerprint> | undefined
  const readReference = () => {
    reading = fingerprint(src.conn)
    reading.catch(() => {}) // awaited below, or settled in `finally` when an earlier step failed
  }
  let reached: string
  try {
    const what = `prove ${i.backup.label} (repo${i.backup.repo})`
    reached = await i.audit.step(`${what}: restore held at ${ref.lsn}; ${src.name} read once copied`, async () => {
      const archived = () => nextRecordArchived(src, i.backup.repo, ref.timeline, ref.lsn)
      return restoreHeld(i, await heldTarget(src, ref), archived, readReference, p)
    })
    const same = lsnToBigInt(reached) === lsnToBigInt(ref.lsn)
    const [reference, restored] = await i.audit.step(
      `${what}: the restored rows; promote, first write, structure`,
      () => settled(reading!, readWhilePromoting(i, p, same)),
    )
    p.tables = restored.tables.length
    p.rows = restored.tables.reduce((a, x) => a + x.rows, 0)
    p.digest = restored.digest
    p.differences = await tableDifferences(src.conn, i.scratch.conn, reference, restored)
  } finally {
    await reading?.catch(() => {})
    await resumeReplay(src.conn)
    p.timings.referencePausedSeconds = (Date.now() - t) / 1000
  }
  const unequal = inequality(src.name, reached, ref.lsn, p.differences)
  if (unequal) throw new ProofFailed(`${p.backup} from repo${p.repo} ${unequal}`)
}

/** No reference: the newest backup restored on its own to the end of its WAL, promoted, a write, its structure. */
async function proveAlone(i: ProofInput, p: Proof): Promise<void> {
  const t = Date.now()
  const plan = planFor(i.backup, { kind: 'immediate' }, targetArgs({ kind: 'immediate' }))
  const o = { mode: 'promote' as const, audit: i.audit, what: `pgbackrest restore ${i.backup.label}` }
  await restoreIntoScratch(i.host, i.repos, plan, i.scratch, o).catch((e) => {
    throw proofFailure(e, p, 'the end of the backup')
  })
  p.timings.restoreSeconds = (Date.now() - t) / 1000
  await promoteAndCheck(i, p, false)
  const restored = await fingerprint(i.scratch.conn)
  p.tables = restored.tables.length
  p.rows = restored.tables.reduce((a, x) => a + x.rows, 0)
  p.digest = restored.digest
  if (!p.tables)
    throw new ProofFailed(`${p.backup} from repo${p.repo} restores, but ${i.scratch.conn.database} holds no table`)
}

function planFor(backup: CatalogBackup, target: RestorePlan['target'], targetArgs: string[]): RestorePlan {
  return {
    repo: backup.repo,
    backup,
    target,
    targetArgs,
    window: { earliest: { time: backup.stop, lsn: backup.lsnStop }, latest: { time: Date.now(), lsn: backup.lsnStop } },
    notes: [],
  }
}

/**
 * Where the held restore stops: exactly X, before the record that starts there (the reference
 * replayed every record ending at or before X). The test suite's fault injection
 * (LABDOJO_FAULT_PROOF=commit-short) stops it just before the reference's last commit instead,
 * as a restore that came up a commit short would, so that the comparison is seen to catch it.
 */
async function heldTarget(src: ReferenceSource, ref: Omit<Reference, 'fingerprint'>): Promise<string[]> {
  const pause = ['--target-exclusive', '--target-action=pause']
  if (process.env.LABDOJO_FAULT_PROOF !== 'commit-short') return ['--type=lsn', `--target=${ref.lsn}`, ...pause]
  if (src.lastCommitBefore) {
    const lsn = await src.lastCommitBefore(ref.timeline, ref.lsn)
    if (!lsn) throw new Error(`fault injection: no commit before ${ref.lsn} in the primary's pg_wal`)
    log.warn(`FAULT INJECTION (LABDOJO_FAULT_PROOF=commit-short): restoring to ${lsn}, one commit short of ${ref.lsn}`)
    return ['--type=lsn', `--target=${lsn}`, ...pause]
  }
  if (!ref.lastCommit) throw new Error(`fault injection: ${ref.node} replayed no commit before ${ref.lsn}`)
  log.warn(`FAULT INJECTION (LABDOJO_FAULT_PROOF=commit-short): restoring to just before ${ref.lastCommit}`)
  // pgBackRest's time format (as recovery-target.ts writes it), to the microsecond
  return ['--type=time', `--target=${ref.lastCommit.replace('T', ' ').replace('Z', '+00')}`, ...pause]
}

/** The backup restored with its repo's WAL and held paused (read-only); the LSN it replayed to. */
async function restoreHeld(
  i: ProofInput,
  targetArgs: string[],
  archived: () => Promise<void>,
  copied: () => void,
  p: Proof,
): Promise<string> {
  const t = Date.now()
  const plan = planFor(i.backup, { kind: 'lsn', lsn: p.lsn! }, targetArgs)
  // the caller removes the scratch cluster, or keeps it with --keep
  const o = { mode: 'hold' as const, beside: archived, copied, keepOnFailure: true }
  await restoreIntoScratch(i.host, i.repos, plan, i.scratch, o).catch((e) => {
    throw proofFailure(e, p, p.lsn!)
  })
  const [r] = await query<{ lsn: string }>(i.scratch.conn, `SELECT pg_last_wal_replay_lsn()::text AS lsn`)
  p.timings.restoreSeconds = (Date.now() - t) / 1000
  return r!.lsn
}

/** A scratch restore's failure as the proof's sentence. */
function proofFailure(e: unknown, p: Proof, to: string): unknown {
  if (!(e instanceof ScratchRestoreFailed)) return e
  const what = `${p.backup} from repo${p.repo}`
  if (e.stage === 'copy') return new ProofFailed(`pgBackRest could not restore ${what}: ${e.why}`)
  const tail = e.explained ? '' : `; server log: ${e.logTail.replace(/\s*\n\s*/g, ' | ')}`
  return new ProofFailed(`${what} does not restore to ${to}: ${e.why}${tail}`)
}

/** Both, once both have run to the end (no read left running behind a failure); the first failure. */
async function settled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b])
  if (x.status === 'rejected') throw x.reason
  if (y.status === 'rejected') throw y.reason
  return [x.value, y.value]
}

/**
 * The restored rows fingerprinted from where the restore is held; alongside, unless it stopped
 * elsewhere (the proof fails then, promoted or not), the promotion, the first write and the
 * structure. Both run to the end before either's failure is reported.
 */
async function readWhilePromoting(i: ProofInput, p: Proof, promote: boolean): Promise<Fingerprint> {
  const t = Date.now()
  const [rows] = await settled(fingerprint(i.scratch.conn), promote ? promoteAndCheck(i, p) : Promise.resolve())
  p.timings.compareAndStructureSeconds = (Date.now() - t) / 1000
  return rows
}

/** Promote the restored cluster (if held), take a write (timed: the restore's RTO), then check its structure. */
async function promoteAndCheck(i: ProofInput, p: Proof, held = true): Promise<void> {
  const t = Date.now()
  if (held) await promoteHeld(i.scratch.conn)
  await proveWritable(i.scratch.conn, { note: 'proof: the restored backup takes a write' })
  p.timings.promoteToWriteSeconds = (Date.now() - t) / 1000
  p.structure = await checkStructure(i.run, i.scratch.conn, i.scratch.checks)
}

/** The sentence of a proven backup: what it equals and where, its structure, its first write. */
export function provenSentence(p: Proof): string {
  const o = p.objectives
  const checked = p.checksums?.ok ? 'every file matches its checksum, it ' : ''
  const equal = p.reference
    ? `restores on its own to ${p.lsn} equal to ${p.reference.node} there (${p.tables} tables, ${p.rows} rows)`
    : 'restores on its own (not compared: no reference standby)'
  const rpo =
    o.rpoGapSeconds === null
      ? ''
      : `, ${o.rpoGapSeconds.toFixed(1)} s behind the newest archived commit (tier-1 RPO ${o.rpoTargetSeconds} s)`
  return `${p.backup} from repo${p.repo}: ${checked}${equal}, structure clean, first write after ${o.rtoSeconds?.toFixed(1)} s${p.scratch.synced ? '' : ' unsynced'} (tier-1 RTO ${o.rtoTargetSeconds} s)${rpo}`
}
