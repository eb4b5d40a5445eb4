/**
 * Proving one backup restorable, as named steps: pause the warm standby at an exact LSN X; restore
 * the backup with its repo's WAL to exactly X (stopping before the record that starts at X:
 * recovery_target_inclusive off) into a scratch cluster held paused and read-only, fingerprinting
 * the warm standby (the reference) once the files are copied; fingerprint the restore while it
 * promotes and takes a write, then check its structure; compare table by table; resume the warm
 * standby; judge the tier-1 objectives; remove the scratch cluster. Never archives into the
 * stanza; never touches the primary or the standbys beyond the pause.
 */
import { existsSync, rmSync } from 'node:fs'
import { rpoGap, type CatalogBackup, type Point, type RestorePlan } from '../../../../core/recovery.ts'
import { bigIntToLsn, lsnToBigInt, WAL_SEGMENT_BYTES } from '../../../../core/wal.ts'
import { proveWritable } from '../write-check.ts'
import { postmasterPid, query, type Conn } from '../../adapters/postgres.ts'
import { walCommitsAfter } from '../../adapters/cluster-files.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import { claimScratch, releaseScratch, removeOrphanScratch } from '../../sites/local/scratch.ts'
import { reapplyErasures } from '../erasure/erasure.ts'
import type { LocalSite } from '../../sites/local/site.ts'
import { promoteHeld } from '../restore/cluster.ts'
import { restoreIntoScratch, ScratchRestoreFailed } from '../restore/scratch-restore.ts'
import { localScratch, localScratchHost } from '../../sites/local/scratch-host.ts'
import type { ReferenceSource, ScratchCluster } from '../../sites/ports.ts'
import { localReference } from '../../sites/local/reference.ts'
import { fingerprint, type Fingerprint, type TableDifference } from './fingerprint.ts'
import { inequality, ProofFailed, tableDifferences } from './compare.ts'
import { nextRecordArchived, pauseAt, resumeReplay, type Reference } from './reference.ts'
import { checkStructure, structureProblems, type StructureOptions, type StructureReport } from './structure.ts'
import { firstLine } from '../../../../core/errors.ts'

export interface Proof {
  backup: string
  backupType: string
  repo: number
  verdict: 'proven' | 'failed'
  /** one sentence: what was proven, or what is wrong */
  reason: string
  reference: Omit<Reference, 'fingerprint'> | null
  lsn: string | null
  tables: number
  rows: number
  digest: string | null
  differences: TableDifference[]
  structure: StructureReport | null
  objectives: {
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

export interface ProofOptions extends StructureOptions {
  keep: boolean
  /** write the scratch restore durably even when it is thrown away (a kept one always is) */
  synced?: boolean
}

/**
 * The proof's scratch cluster. Written to disk durably only when it is kept (or --synced). One
 * thrown away once read needs no fsync: its restore runs under eatmydata and its server with
 * fsync off (measured at scale 1: the copy 2.1-2.6 s instead of 2.7-3.9 s). Its RTO is then a
 * lower bound; a drill's PITR syncs.
 */
interface Scratch extends ScratchCluster {
  conn: Conn & { database: string }
  /** how deep its structure is checked */
  checks: StructureOptions
}

/** The proof of one backup from one repo; `newestArchived` is the newest archived commit when the run began. */
export async function proveBackup(
  site: LocalSite,
  backup: CatalogBackup,
  newestArchived: Point | null,
  o: ProofOptions,
  audit: AuditLog,
): Promise<Proof> {
  const cluster = await localScratch(site.layout, 'verify', { synced: o.keep || !!o.synced })
  const scratch: Scratch = {
    ...cluster,
    conn: localScratchHost(site).conn(cluster),
    checks: { heapAllIndexed: o.heapAllIndexed },
  }
  const dir = scratch.dir
  const p = emptyProof(site, backup, scratch, o.keep)
  for (const gone of await removeOrphanScratch(site))
    log.warn(`removed the scratch cluster of a killed runbook: ${gone}`)
  claimScratch(dir)
  const t0 = Date.now()
  try {
    await proveAtReference(site, backup, scratch, p, audit)
    p.timings.proofSeconds = (Date.now() - t0) / 1000
    // what a real restore would take: restore and replay, then promote and take a write
    p.objectives.rtoSeconds = (p.timings.restoreSeconds ?? 0) + (p.timings.promoteToWriteSeconds ?? 0)
    const restoredAt = p.reference?.lastCommit ? Date.parse(p.reference.lastCommit) : null
    p.objectives.rpoGapSeconds = rpoGap(newestArchived, p.lsn!, restoredAt)
    p.verdict = 'proven'
    p.reason = provenSentence(p)
  } catch (e) {
    p.verdict = 'failed'
    p.reason = e instanceof ProofFailed ? e.message : `the proof could not run: ${firstLine(e)}`
  } finally {
    await dropScratch(site, scratch, o.keep)
  }
  return p
}

function emptyProof(site: LocalSite, b: CatalogBackup, s: Scratch, keep: boolean): Proof {
  return {
    backup: b.label,
    backupType: b.type,
    repo: b.repo,
    verdict: 'failed',
    reason: '',
    reference: null,
    lsn: null,
    tables: 0,
    rows: 0,
    digest: null,
    differences: [],
    structure: null,
    objectives: {
      rtoSeconds: null,
      rtoTargetSeconds: site.policy.tiers[1].rto,
      rpoGapSeconds: null,
      rpoTargetSeconds: site.policy.tiers[1].rpo,
    },
    timings: {},
    scratch: { dir: s.dir, port: s.port, kept: keep, synced: s.synced },
    at: new Date().toISOString(),
  }
}

/**
 * The proof's steps, with the warm standby paused at X throughout and replaying again after.
 * The backup is restored and held at X; the reference is read once its files are copied (the
 * copy is CPU-bound: read beside it, it took the copy twice as long), beside recovery, which
 * waits on one WAL segment at a time. Then the restored rows are read while it promotes and takes
 * a write (promotion changes no row; nothing else connects to it), and its structure is checked
 * once promoted; then the comparison, table by table. The standby is never resumed under a read.
 */
async function proveAtReference(
  site: LocalSite,
  backup: CatalogBackup,
  s: Scratch,
  p: Proof,
  audit: AuditLog,
): Promise<void> {
  const src = localReference(site)
  const ref = await pauseAt(src, backup.lsnStop)
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
    const what = `prove ${backup.label} (repo${backup.repo})`
    reached = await audit.step(`${what}: restore held at ${ref.lsn}; the warm standby read once copied`, () =>
      restoreAtReference(site, src, backup, ref, s, p, readReference),
    )
    const same = lsnToBigInt(reached) === lsnToBigInt(ref.lsn)
    const [reference, restored] = await audit.step(`${what}: the restored rows; promote, first write, structure`, () =>
      settled(reading!, readWhilePromoting(site, s, p, same)),
    )
    p.tables = restored.tables.length
    p.rows = restored.tables.reduce((a, x) => a + x.rows, 0)
    p.digest = restored.digest
    p.differences = await tableDifferences(src.conn, s.conn, reference, restored)
  } finally {
    await reading?.catch(() => {})
    await resumeReplay(src.conn)
    p.timings.warmPausedSeconds = (Date.now() - t) / 1000
  }
  judge(p, reached, ref.lsn)
}

/** The backup restored with its repo's WAL and held paused at the reference's LSN; the LSN it reached. */
async function restoreAtReference(
  site: LocalSite,
  src: ReferenceSource,
  backup: CatalogBackup,
  ref: Omit<Reference, 'fingerprint'>,
  s: Scratch,
  p: Proof,
  copied: () => void,
): Promise<string> {
  const t = Date.now()
  const target = await restoreTarget(site, ref.timeline, ref.lsn)
  const archived = () => nextRecordArchived(src, backup.repo, ref.timeline, ref.lsn)
  const reached = await restoreHeld(site, backup, target, s, archived, copied)
  p.timings.restoreSeconds = (Date.now() - t) / 1000
  return reached
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
async function readWhilePromoting(site: LocalSite, s: Scratch, p: Proof, promote: boolean): Promise<Fingerprint> {
  const t = Date.now()
  const [rows] = await settled(fingerprint(s.conn), promote ? promoteAndCheck(site, s, p) : Promise.resolve())
  p.timings.compareAndStructureSeconds = (Date.now() - t) / 1000
  return rows
}

/** The verdict on what was compared: a difference or another LSN first, then the structure. */
function judge(p: Proof, reached: string, lsn: string): void {
  const what = `${p.backup} from repo${p.repo}`
  const unequal = inequality('the warm standby', reached, lsn, p.differences)
  if (unequal) throw new ProofFailed(`${what} ${unequal}`)
  const problems = p.structure ? structureProblems(p.structure) : ['its structure was not checked']
  if (problems.length) throw new ProofFailed(`${what} restores, but ${problems.join('; ')}`)
}

/**
 * Where the restore stops: exactly X. The test suite's fault injection
 * (LABDOJO_FAULT_PROOF=commit-short) stops it just before the last commit before X instead, as a
 * restore that came up a commit short would, so that the comparison is seen to catch it.
 */
async function restoreTarget(site: LocalSite, timeline: number, lsn: string): Promise<string> {
  if (process.env.LABDOJO_FAULT_PROOF !== 'commit-short') return lsn
  const primaryData = site.layout.node(site.state().primary).data
  const seg = WAL_SEGMENT_BYTES
  const x = lsnToBigInt(lsn)
  // the segments right before X may hold no commit (WAL switched by the proof itself): look further back
  let last: { lsn: string } | undefined
  for (let back = 1n; back <= 8n && !last && x - back * seg >= 0n; back++) {
    const from = bigIntToLsn(((x - 1n) / seg - (back - 1n)) * seg)
    const commits = (await walCommitsAfter(site.run, primaryData, timeline, from).catch(() => [])).filter(
      (c) => lsnToBigInt(c.lsn) < x,
    )
    last = commits.at(-1)
  }
  if (!last) throw new Error(`fault injection: no commit before ${lsn} in ${site.state().primary}'s pg_wal`)
  log.warn(`FAULT INJECTION (LABDOJO_FAULT_PROOF=commit-short): restoring to ${last.lsn}, one commit short of ${lsn}`)
  return last.lsn
}

/**
 * pgBackRest restore of the backup, its repo's WAL to exactly `lsn`, held paused (read-only); the
 * LSN it replayed to. The files are copied while `archived` waits for the WAL recovery needs;
 * `copied` is called once they are.
 */
async function restoreHeld(
  site: LocalSite,
  backup: CatalogBackup,
  lsn: string,
  s: Scratch,
  archived: () => Promise<void>,
  copied: () => void,
): Promise<string> {
  const plan: RestorePlan = {
    repo: backup.repo,
    backup,
    target: { kind: 'lsn', lsn },
    // stop before the record that starts at X: the reference replayed every record ending at or before X
    targetArgs: ['--type=lsn', `--target=${lsn}`, '--target-exclusive', '--target-action=pause'],
    window: { earliest: { time: backup.stop, lsn: backup.lsnStop }, latest: { time: Date.now(), lsn } },
    notes: [],
  }
  const what = `${backup.label} from repo${backup.repo}`
  const host = localScratchHost(site)
  // dropScratch removes it, or keeps it with --keep
  const o = { mode: 'hold' as const, beside: archived, copied, keepOnFailure: true }
  await restoreIntoScratch(host, site.repos, plan, s, o).catch((e) => {
    if (!(e instanceof ScratchRestoreFailed)) throw e
    if (e.stage === 'copy') throw new ProofFailed(`pgBackRest could not restore ${what}: ${e.why}`)
    const log = e.explained ? '' : `; server log: ${e.logTail.replace(/\s*\n\s*/g, ' | ')}`
    throw new ProofFailed(`${what} does not restore to ${lsn}: ${e.why}${log}`)
  })
  const [r] = await query<{ lsn: string }>(s.conn, `SELECT pg_last_wal_replay_lsn()::text AS lsn`)
  return r!.lsn
}

/** Promote the restored cluster, take a write (timed: the restore's RTO), then check its structure. */
async function promoteAndCheck(site: LocalSite, s: Scratch, p: Proof): Promise<void> {
  const t = Date.now()
  await promoteHeld(s.conn)
  await proveWritable(s.conn, { note: 'proof: the restored backup takes a write' })
  p.timings.promoteToWriteSeconds = (Date.now() - t) / 1000
  p.structure = await checkStructure(site.run, s.conn, s.checks)
}

function provenSentence(p: Proof): string {
  const o = p.objectives
  return `${p.backup} from repo${p.repo} restores to ${p.lsn} equal to the warm standby there (${p.tables} tables, ${p.rows} rows), structure clean, first write after ${o.rtoSeconds?.toFixed(1)} s${p.scratch.synced ? '' : ' unsynced'} (tier-1 RTO ${o.rtoTargetSeconds} s)${o.rpoGapSeconds === null ? '' : `, ${o.rpoGapSeconds.toFixed(1)} s behind the newest archived commit (tier-1 RPO ${o.rpoTargetSeconds} s)`}`
}

/**
 * A kept scratch cluster is the user's now (no longer an orphan to remove); a promoted one may
 * be queried, so the erasure ledger is re-applied first — or it is stopped.
 */
async function keepScratch(site: LocalSite, s: Scratch): Promise<void> {
  releaseScratch(s.dir)
  const promoted = (await query<{ r: boolean }>(s.conn, 'SELECT NOT pg_is_in_recovery() AS r').catch(() => []))[0]?.r
  if (promoted)
    await reapplyErasures(site, s.conn).catch(async (e) => {
      log.warn(`the erasure ledger could not be re-applied (${(e as Error).message}): stopping the kept cluster`)
      await site.pg.stop(s.dir, 'immediate').catch(() => {})
    })
  log.info(`kept the scratch cluster: ${s.dir} (port ${s.port})`)
}

async function dropScratch(site: LocalSite, s: Scratch, keep: boolean): Promise<void> {
  if (postmasterPid(s.dir)) {
    if (keep) return keepScratch(site, s)
    await site.pg.stop(s.dir, 'immediate').catch(() => {})
  }
  if (!keep && existsSync(s.dir)) rmSync(s.dir, { recursive: true, force: true })
  else if (keep) log.info(`kept the scratch cluster: ${s.dir} (port ${s.port})`)
  releaseScratch(s.dir)
}
