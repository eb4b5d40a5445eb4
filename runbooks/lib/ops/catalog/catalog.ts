/**
 * Gathers the recovery catalog: for each repo, pgBackRest's backups and archive range, plus
 * the latest recoverable point, which `info` does not report: fetch the newest archived
 * segment and read its last COMMIT with pg_waldump, stepping back while a segment has none.
 */
import { newerWriterProblem } from '../../../../core/pgbackrest-version.ts'
import { rmSync, existsSync, readFileSync, appendFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import type { Runner } from '../../adapters/exec.ts'
import type { PgBackRest, StanzaInfo } from '../../adapters/pgbackrest.ts'
import { pgBin } from '../../adapters/postgres.ts'
import { commitsIn } from '../../adapters/cluster-files.ts'
import { archiveGaps, lsnToBigInt, previousSegment, segmentEnd, segmentStart } from '../../../../core/wal.ts'
import { giveToSiteUser } from '../../adapters/process.ts'
import { removeScratch, scratchDir } from '../../adapters/scratch.ts'
import {
  earliestPoint,
  newestBackupEnd,
  type CatalogBackup,
  type CatalogGap,
  type Point,
  type RepoCatalog,
  type RestorePoint,
} from '../../../../core/recovery.ts'
import { firstLine } from '../../../../core/errors.ts'

/** The last COMMIT record of one WAL file, per pg_waldump. */
export function lastCommit(waldump: string): Point | undefined {
  return commitsIn(waldump).at(-1)
}

/**
 * The last commit in the archive, searched from the newest segment backwards. `floorLsn` (the
 * newest backup's end) stops the search: a commit in a segment that ends before it is older
 * than the backup's end, which is recoverable anyway.
 */
export async function latestRecoverable(
  run: Runner,
  br: PgBackRest,
  repo: number,
  archiveMax: string,
  pgPath: string,
  floorLsn?: string,
  archiveIds: string[] = [],
  maxSteps = 8,
): Promise<Point | undefined> {
  const floor = floorLsn ? lsnToBigInt(floorLsn) : 0n
  // archive-get checks the segment against the stanza's cluster; a machine reading a cloud vault has none
  const withCluster = existsSync(join(pgPath, 'global', 'pg_control'))
  const fetch = async (seg: string, dest: string): Promise<boolean> => {
    if (withCluster) return (await br.archiveGet(seg, dest, repo, pgPath)).code === 0 && existsSync(dest)
    for (const id of [...archiveIds].reverse()) if (await br.segmentGet(seg, dest, repo, id)) return true
    return false
  }
  const dir = scratchDir(join(tmpdir(), 'labdojo-wal-'))
  chmodSync(dir, 0o700)
  giveToSiteUser(dir)
  try {
    let seg: string | undefined = archiveMax
    for (let i = 0; seg && i < maxSteps && segmentEnd(seg) > floor; i++, seg = previousSegment(seg)) {
      const dest = join(dir, seg)
      if (!(await fetch(seg, dest))) continue
      // only transaction records: a segment of bulk writes prints 100k lines otherwise
      const dump = await run(pgBin('pg_waldump'), ['--rmgr=Transaction', dest], {
        asSiteUser: true,
        nothrow: true,
        env: { TZ: 'UTC' },
        timeoutMs: 60_000,
      })
      rmSync(dest, { force: true })
      const p = lastCommit(dump.stdout)
      if (p) return p
    }
    return undefined
  } finally {
    removeScratch(dir)
  }
}

export function catalogBackups(info: StanzaInfo, repo: number): CatalogBackup[] {
  return info.backups
    .filter((b) => b.repoKey === repo)
    .map((b) => ({
      label: b.label,
      type: b.type,
      repo,
      start: b.start * 1000,
      stop: b.stop * 1000,
      lsnStart: b.lsnStart,
      lsnStop: b.lsnStop,
      size: b.size,
      repoSize: b.repoSize,
      error: b.error,
    }))
}

/** A repo that cannot be read: no facts, and why. */
/** Why this machine's pgBackRest must not read the repo (a newer one wrote its backups), if it must not. */
async function writtenByNewer(br: PgBackRest, info: StanzaInfo, repo: number): Promise<string | undefined> {
  return newerWriterProblem(
    repo,
    await br.version(),
    info.backups.filter((b) => b.repoKey === repo),
  )
}

function unreachableRepo(repo: number, error: string): RepoCatalog {
  return {
    repo,
    backups: [],
    archiveMin: null,
    archiveMax: null,
    earliest: null,
    latest: null,
    reachable: false,
    error,
  }
}

/**
 * WAL missing from a repo's archive after its oldest backup began, each gap with the last commit
 * before it (searched back from the last segment present, no further than the backup before it).
 */
async function walGaps(
  run: Runner,
  br: PgBackRest,
  repo: number,
  archiveIds: string[],
  backups: CatalogBackup[],
  pgPath: string,
): Promise<CatalogGap[]> {
  const ok = backups.filter((b) => !b.error).sort((a, b) => a.stop - b.stop)
  if (!ok.length) return []
  const segments = (await Promise.all(archiveIds.map((id) => br.archiveSegments(repo, id)))).flat()
  const oldestStart = lsnToBigInt(ok[0]!.lsnStart)
  const gaps = archiveGaps(segments).filter((g) => g.resumesAt === null || segmentStart(g.resumesAt) > oldestStart)
  const out: CatalogGap[] = []
  for (const g of gaps) {
    const floor = ok.filter((b) => lsnToBigInt(b.lsnStop) < segmentStart(g.firstMissing)).at(-1)?.lsnStop
    const before = (await latestRecoverable(run, br, repo, g.lastPresent, pgPath, floor, archiveIds)) ?? null
    out.push({ ...g, before })
  }
  return out
}

/** `precheck` answers fast when a repo's storage is down (pgBackRest itself retries for minutes). */
export async function repoCatalog(
  run: Runner,
  br: PgBackRest,
  repo: number,
  pgPath: string,
  precheck?: () => Promise<string | undefined>,
): Promise<RepoCatalog> {
  const down = await precheck?.()
  if (down) return unreachableRepo(repo, down)
  let info: StanzaInfo
  try {
    info = await br.info(repo)
  } catch (e) {
    return unreachableRepo(repo, (e as Error).message.split('\n').slice(0, 3).join(' '))
  }
  const r = info.repos.find((x) => x.key === repo)
  if (r && r.status !== 0 && r.status !== 2) return unreachableRepo(repo, r.message)
  const newer = await writtenByNewer(br, info, repo)
  if (newer) return unreachableRepo(repo, newer)
  const backups = catalogBackups(info, repo)
  const arch = info.archives.filter((a) => a.repoKey === repo).sort((a, b) => (a.max ?? '').localeCompare(b.max ?? ''))
  const archiveMin =
    arch
      .map((a) => a.min)
      .filter(Boolean)
      .sort()[0] ?? null
  const archiveMax = arch.at(-1)?.max ?? null
  let error: string | undefined
  let gaps: CatalogGap[] = []
  try {
    gaps = await walGaps(
      run,
      br,
      repo,
      arch.map((a) => a.id),
      backups,
      pgPath,
    )
  } catch (e) {
    error = `could not list the archive: ${firstLine(e)}`
  }
  // the end of the newest backup is itself recoverable even when no commit follows it
  const backupEnd = newestBackupEnd(backups)
  const gapAfterNewest = backupEnd && gaps.find((g) => segmentStart(g.firstMissing) > lsnToBigInt(backupEnd.lsn))
  let latest: Point | null = gapAfterNewest ? gapAfterNewest.before : null
  if (archiveMax && !gapAfterNewest) {
    try {
      const ids = arch.map((a) => a.id)
      latest = (await latestRecoverable(run, br, repo, archiveMax, pgPath, backupEnd?.lsn, ids)) ?? null
    } catch (e) {
      error = firstLine(e)
    }
  }
  // a time target needs a commit after it in archived WAL: the newest one found, kept apart from
  // the backup's end (which latest and immediate targets reach without one)
  const lastCommit = latest
  if (backupEnd && (!latest || latest.time < backupEnd.time)) latest = backupEnd
  const earliest = earliestPoint(backups)
  return { repo, backups, archiveMin, archiveMax, earliest, latest, lastCommit, gaps, reachable: true, error }
}

// ------------------------------------------------------------------ named restore points

export function readRestorePoints(file: string): RestorePoint[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RestorePoint)
}

export function recordRestorePoint(file: string, p: RestorePoint): void {
  appendFileSync(file, JSON.stringify(p) + '\n')
}
