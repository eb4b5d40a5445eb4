/**
 * Before a failover promotes its candidate: the commits a dead primary (or a stopped standby)
 * still holds in its readable pg_wal — the same files the data-loss forensics read — are handed
 * to the candidate, which replays them from its own pg_wal, so that what was acknowledged is
 * not thrown away because it never reached the archive. Only from a node whose server is not
 * running, on the candidate's timeline and system, and only what lies after the candidate.
 */
import { copyFileSync, existsSync, readdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { lsnToBigInt, nextSegment, segmentName } from '../../../../core/wal.ts'
import { controlData, walCommitsAfter, type WalCommit } from '../../adapters/cluster-files.ts'
import { postmasterPid, query } from '../../adapters/postgres.ts'
import { giveToSiteUser, waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import { firstLine } from '../../../../core/errors.ts'
import { type LocalSitePort, type NodeName } from '../../sites/local-port.ts'

export interface Salvage {
  from: NodeName
  /** WAL segments copied into the candidate's pg_wal */
  segments: string[]
  /** commits the source held after the candidate's position, and how many the candidate replayed */
  commits: number
  replayed: number
  /** the candidate's replay position afterwards */
  upTo: string
}

/** The source holding the most commits after `lsn` (the furthest), among nodes whose server is down. */
async function bestSource(
  site: LocalSitePort,
  sources: NodeName[],
  timeline: number,
  systemId: string,
  lsn: string,
): Promise<{ node: NodeName; commits: WalCommit[] } | undefined> {
  let best: { node: NodeName; commits: WalCommit[] } | undefined
  for (const node of sources) {
    const data = site.layout.node(node).data
    if (!existsSync(join(data, 'pg_wal')) || postmasterPid(data)) continue
    try {
      const control = await controlData(site.run, data)
      if (control.systemId !== systemId) continue
      const commits = await walCommitsAfter(site.run, data, timeline, lsn)
      if (commits.length > (best?.commits.length ?? 0)) best = { node, commits }
    } catch (e) {
      log.warn(`salvage: ${node}'s WAL cannot be read (${firstLine(e)})`)
    }
  }
  return best
}

export async function salvageWal(
  site: LocalSitePort,
  candidate: NodeName,
  candidateLsn: string,
  timeline: number,
  sources: NodeName[],
): Promise<Salvage | undefined> {
  const target = site.layout.node(candidate).data
  const { systemId } = await controlData(site.run, target)
  const best = await bestSource(site, sources, timeline, systemId, candidateLsn)
  if (!best) return undefined
  const from = join(site.layout.node(best.node).data, 'pg_wal')
  const last = best.commits.at(-1)!
  const first = segmentName(timeline, candidateLsn)
  // up to the segment after the last commit's (its record may cross into it): not the recycled
  // segments pg_wal keeps ahead, which hold nothing of this history
  const final = nextSegment(segmentName(timeline, last.lsn))
  const prefix = first.slice(0, 8)
  const segments = readdirSync(from)
    .filter((f) => /^[0-9A-F]{24}$/.test(f) && f.startsWith(prefix) && f >= first && f <= final)
    .sort()
  // each file whole, then renamed into place: the candidate never reads half a copy
  for (const f of segments) {
    const tmp = join(target, 'pg_wal', `.salvage-${f}`)
    copyFileSync(join(from, f), tmp)
    giveToSiteUser(tmp)
    renameSync(tmp, join(target, 'pg_wal', f))
  }
  const conn = site.conn(candidate, 'postgres')
  const position = async () =>
    (await query<{ lsn: string }>(conn, 'SELECT pg_last_wal_replay_lsn()::text AS lsn'))[0]!.lsn
  await waitFor(
    `${candidate} to replay the WAL salvaged from ${best.node}`,
    async () => lsnToBigInt(await position()) > lsnToBigInt(last.lsn),
    60_000,
    100,
  ).catch(() => undefined) // what it could not replay stays counted in the loss window
  const upTo = await position()
  const replayed = best.commits.filter((c) => lsnToBigInt(c.lsn) < lsnToBigInt(upTo)).length
  return { from: best.node, segments, commits: best.commits.length, replayed, upTo }
}
