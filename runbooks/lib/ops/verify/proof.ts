/**
 * Proving one backup restorable, wherever it and its reference live (the local site's repos and
 * warm standby, a cloud stack's vaults and warm site), as named steps: pause the reference at an
 * exact LSN X; restore the backup with its repo's WAL to exactly X (stopping before the record
 * that starts at X) into a scratch cluster held paused and read-only, reading the reference once
 * the files are copied; read the restore while it promotes and takes a write, then check its
 * structure; compare table by table; resume the reference. Without a reference (a stack with no
 * warm site) the restore promotes, takes a write and is checked for structure only. The site
 * gives the scratch host, the repos and the reference (sites/ports.ts); the caller builds and
 * removes the scratch cluster. Each step returns what it measured; the proof is assembled once,
 * from the measure and the verdict on it. Never archives into a repo; never touches a primary or
 * a standby beyond the pause.
 */
import { rpoGap, type CatalogBackup, type Point, type RestorePlan } from '../../../../core/recovery.ts'
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
import { inequality, tableDifferences } from './compare.ts'
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

/** What a proof's steps measured; `failure` when the restore itself failed (the sentence says how). */
export interface ProofMeasure {
  reference: Omit<Reference, 'fingerprint'> | null
  /** how sentences name the reference ("the warm standby", or its node name) */
  referenceLabel?: string
  /** where the restore was held, or stopped */
  reached: string | null
  tables: number
  rows: number
  digest: string | null
  differences: TableDifference[]
  structure: StructureReport | null
  timings: Record<string, number>
  failure?: string
}

/** What the caller knows before the proof runs: the backup, the checks it ran itself, the targets, the scratch cluster. */
export interface ProofBase {
  backup: { label: string; type: string; repo: number } | { label: null; type: null; repo: number }
  checksums?: { ok: boolean; problems: string[] }
  tier1: { rto: number; rpo: number }
  /** the newest archived commit when the run began (the RPO gap is measured against it) */
  newestArchived?: Point | null
  scratch: ScratchCluster
  kept: boolean
}

/** The proof's steps: with a reference, the exact comparison at X; without, the restore on its own. */
export async function measureProof(i: ProofInput): Promise<ProofMeasure> {
  const t0 = Date.now()
  const m = i.reference ? await atReference(i, i.reference) : await alone(i)
  return { ...m, timings: { ...m.timings, proofSeconds: (Date.now() - t0) / 1000 } }
}

/** Why the proof fails, as its sentence: the restore's failure, another LSN or a difference, then the structure. */
export function judgeProof(m: ProofMeasure, b: ProofBase): string | undefined {
  const what = `${b.backup.label} from repo${b.backup.repo}`
  if (m.failure) return m.failure
  if (m.reference) {
    const unequal = inequality(m.referenceLabel ?? m.reference.node, m.reached!, m.reference.lsn, m.differences)
    if (unequal) return `${what} ${unequal}`
    // equal, but over nothing: no table on either side proves no data
    if (!m.tables)
      return `${what} restores, but neither it nor ${m.referenceLabel ?? m.reference.node} holds a table: nothing was compared`
  } else if (!m.tables) return `${what} restores, but it holds no table`
  const problems = m.structure ? structureProblems(m.structure) : ['its structure was not checked']
  if (problems.length) return `${what} restores, but ${problems.join('; ')}`
  return undefined
}

/** The one proof record: from what the caller knew, what was measured (null: the proof could not run) and the verdict. */
export function assembleProof(b: ProofBase, m: ProofMeasure | null, failure: string | undefined): Proof {
  const t = m?.timings ?? {}
  const restoredAt = m?.reference?.lastCommit ? Date.parse(m.reference.lastCommit) : null
  const rto = m && !m.failure ? (t.restoreSeconds ?? 0) + (t.promoteToWriteSeconds ?? 0) : null
  const p: Proof = {
    backup: b.backup.label,
    backupType: b.backup.type,
    repo: b.backup.repo,
    verdict: failure ? 'failed' : 'proven',
    reason: failure ?? '',
    checksums: b.checksums ?? null,
    reference: m?.reference ?? null,
    lsn: m?.reference?.lsn ?? null,
    tables: m?.tables ?? 0,
    rows: m?.rows ?? 0,
    digest: m?.digest ?? null,
    differences: m?.differences ?? [],
    structure: m?.structure ?? null,
    objectives: {
      rtoSeconds: rto,
      rtoTargetSeconds: b.tier1.rto,
      rpoGapSeconds: m?.reference && !failure ? rpoGap(b.newestArchived ?? null, m.reference.lsn, restoredAt) : null,
      rpoTargetSeconds: b.tier1.rpo,
    },
    timings: t,
    scratch: { dir: b.scratch.dir, port: b.scratch.port, kept: b.kept, synced: b.scratch.synced },
    at: new Date().toISOString(),
  }
  if (!failure) p.reason = provenSentence(p, m?.referenceLabel)
  return p
}

/**
 * With the reference paused at X throughout and replaying again after: the backup restored and
 * held at X; the reference read once the files are copied (the copy is CPU-bound: read beside
 * it, it took the copy twice as long), beside recovery, which waits on one WAL segment at a
 * time; the restored rows read while it promotes and takes a write (promotion changes no row;
 * nothing else connects to it); then the differences, table by table. The reference is never
 * resumed under a read.
 */
async function atReference(i: ProofInput, src: ReferenceSource): Promise<ProofMeasure> {
  const ref = await pauseAt(src, i.backup.lsnStop)
  const m: ProofMeasure = { ...EMPTY, reference: ref, referenceLabel: src.label ?? src.name, timings: {} }
  const t = Date.now()
  let reading: Promise<Fingerprint> | undefined
  const readReference = () => {
    reading = fingerprint(src.conn)
    reading.catch(() => {}) // awaited below, or settled in `finally` when an earlier step failed
  }
  try {
    const what = `prove ${i.backup.label} (repo${i.backup.repo})`
    const held = await i.audit.step(`${what}: restore held at ${ref.lsn}; ${src.name} read once copied`, async () => {
      const archived = () => nextRecordArchived(src, i.backup.repo, ref.timeline, ref.lsn)
      return restoreHeld(i, await heldTarget(src, ref), ref.lsn, archived, readReference)
    })
    if ('failure' in held) return { ...m, failure: held.failure }
    m.reached = held.reached
    m.timings.restoreSeconds = held.seconds
    const same = lsnToBigInt(held.reached) === lsnToBigInt(ref.lsn)
    const [reference, [restored, after]] = await i.audit.step(
      `${what}: the restored rows; promote, first write, structure`,
      () => settled(reading!, readWhilePromoting(i, same)),
    )
    Object.assign(m, counts(restored), after, { timings: { ...m.timings, ...after.timings } })
    m.differences = await tableDifferences(src.conn, i.scratch.conn, reference, restored)
  } finally {
    await reading?.catch(() => {})
    await resumeReplay(src.conn)
    m.timings.referencePausedSeconds = (Date.now() - t) / 1000
  }
  return m
}

const EMPTY = { reached: null, tables: 0, rows: 0, digest: null, differences: [], structure: null }

const counts = (f: Fingerprint) => ({
  tables: f.tables.length,
  rows: f.tables.reduce((a, x) => a + x.rows, 0),
  digest: f.digest,
})

/** No reference: the backup restored on its own to consistency, promoted, a write, its structure, its rows counted. */
async function alone(i: ProofInput): Promise<ProofMeasure> {
  const t = Date.now()
  const plan = planFor(i.backup, { kind: 'immediate' }, targetArgs({ kind: 'immediate' }))
  const o = { mode: 'promote' as const, audit: i.audit, what: `pgbackrest restore ${i.backup.label}` }
  const failure = await restoreIntoScratch(i.host, i.repos, plan, i.scratch, o).then(
    () => undefined,
    (e) => failureOf(e, i.backup, 'the end of the backup'),
  )
  if (failure) return { ...EMPTY, reference: null, timings: {}, failure }
  const restoreSeconds = (Date.now() - t) / 1000
  const after = await promoteAndCheck(i, false)
  const restored = counts(await fingerprint(i.scratch.conn))
  return { ...EMPTY, reference: null, ...restored, ...after, timings: { restoreSeconds, ...after.timings } }
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

/** The backup restored with its repo's WAL and held paused (read-only): the LSN it replayed to, or why it failed. */
async function restoreHeld(
  i: ProofInput,
  targetArgs: string[],
  lsn: string,
  archived: () => Promise<void>,
  copied: () => void,
): Promise<{ reached: string; seconds: number } | { failure: string }> {
  const t = Date.now()
  const plan = planFor(i.backup, { kind: 'lsn', lsn }, targetArgs)
  // the caller removes the scratch cluster, or keeps it with --keep
  const o = { mode: 'hold' as const, beside: archived, copied, keepOnFailure: true }
  const failure = await restoreIntoScratch(i.host, i.repos, plan, i.scratch, o).then(
    () => undefined,
    (e) => failureOf(e, i.backup, lsn),
  )
  if (failure) return { failure }
  const [r] = await query<{ lsn: string }>(i.scratch.conn, `SELECT pg_last_wal_replay_lsn()::text AS lsn`)
  return { reached: r!.lsn, seconds: (Date.now() - t) / 1000 }
}

/** A scratch restore's failure as the proof's sentence; any other error is the proof not running at all. */
function failureOf(e: unknown, b: CatalogBackup, to: string): string {
  if (!(e instanceof ScratchRestoreFailed)) throw e
  const what = `${b.label} from repo${b.repo}`
  if (e.stage === 'copy') return `pgBackRest could not restore ${what}: ${e.why}`
  const tail = e.explained ? '' : `; server log: ${e.logTail.replace(/\s*\n\s*/g, ' | ')}`
  return `${what} does not restore to ${to}: ${e.why}${tail}`
}

/** Both, once both have run to the end (no read left running behind a failure); the first failure. */
async function settled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b])
  if (x.status === 'rejected') throw x.reason
  if (y.status === 'rejected') throw y.reason
  return [x.value, y.value]
}

type Checked = { structure: StructureReport | null; timings: Record<string, number> }

/**
 * The restored rows fingerprinted from where the restore is held; alongside, unless it stopped
 * elsewhere (the proof fails then, promoted or not), the promotion, the first write and the
 * structure. Both run to the end before either's failure is reported.
 */
async function readWhilePromoting(i: ProofInput, promote: boolean): Promise<[Fingerprint, Checked]> {
  const t = Date.now()
  const none: Checked = { structure: null, timings: {} }
  const [rows, after] = await settled(fingerprint(i.scratch.conn), promote ? promoteAndCheck(i) : Promise.resolve(none))
  return [rows, { ...after, timings: { ...after.timings, compareAndStructureSeconds: (Date.now() - t) / 1000 } }]
}

/** Promote the restored cluster (if held), take a write (timed: the restore's RTO), then check its structure. */
async function promoteAndCheck(i: ProofInput, held = true): Promise<Checked> {
  const t = Date.now()
  if (held) await promoteHeld(i.scratch.conn)
  await proveWritable(i.scratch.conn, { note: 'proof: the restored backup takes a write' })
  const promoteToWriteSeconds = (Date.now() - t) / 1000
  const structure = await checkStructure(i.run, i.scratch.conn, i.scratch.checks)
  return { structure, timings: { promoteToWriteSeconds } }
}

/** The sentence of a proven backup: what it equals and where, its structure, its first write. */
function provenSentence(p: Proof, referenceLabel = p.reference?.node): string {
  const o = p.objectives
  const checked = p.checksums?.ok ? 'every file matches its checksum, it ' : ''
  const equal = p.reference
    ? `restores on its own to ${p.lsn} equal to ${referenceLabel} there (${p.tables} tables, ${p.rows} rows)`
    : `restores on its own (${p.tables} tables, ${p.rows} rows; not compared: no reference standby)`
  const rpo =
    o.rpoGapSeconds === null
      ? ''
      : `, ${o.rpoGapSeconds.toFixed(1)} s behind the newest archived commit (tier-1 RPO ${o.rpoTargetSeconds} s)`
  return `${p.backup} from repo${p.repo}: ${checked}${equal}, structure clean, first write after ${o.rtoSeconds?.toFixed(1)} s${p.scratch.synced ? '' : ' unsynced'} (tier-1 RTO ${o.rtoTargetSeconds} s)${rpo}`
}
