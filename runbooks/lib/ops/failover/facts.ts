/**
 * The facts a local failover is decided on: detection, both nodes probed, the candidate's
 * real timeline (an archive-fed standby follows the one its log names), the data-loss window
 * and the stanza's system identifier.
 */
import { existsSync, readFileSync } from 'node:fs'
import { inputError, firstLine } from '../../../../core/errors.ts'
import { lossWindow, type DetectionResult, type FailoverFacts, type PrimaryWal } from '../../../../core/failover.ts'
import { lsnToBigInt } from '../../../../core/wal.ts'
import { probe, query, type NodeStatus } from '../../adapters/postgres.ts'
import { controlData, followedTimeline, walCommitsAfter } from '../../adapters/cluster-files.ts'
import { waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import { detectFailures, probePair, snap } from './detect.ts'
import { salvageWal, type Salvage } from './salvage.ts'
import { NODE_NAMES, type LocalSitePort, type NodeName, type SiteState } from '../../sites/local-port.ts'

export interface FailoverOptions {
  to: 'hot' | 'warm'
  dryRun: boolean
  acceptDataLoss: boolean
  switchover: boolean
  /** decided by the --watch loop, not a person: manual sites are refused */
  automatic: boolean
  /** detection already done by the watch loop */
  detection?: DetectionResult
}

/** Probe the local site's primary until a detection or an answer. */
export function detect(
  site: LocalSitePort,
  o: { watch?: boolean; until?: number; afterHealthyRound?: () => Promise<unknown> } = {},
): Promise<DetectionResult> {
  const d = site.policy.detection
  const round = async () => {
    const primary = site.state().primary
    const r = await probePair(
      { name: primary, ...site.conn(primary, 'postgres') },
      site.endpointConn('postgres'),
      d.probeTimeout * 1000,
    )
    // a guard's failure is its own: it must not turn into a failed probe of the primary
    if (r.ok && o.afterHealthyRound) await o.afterHealthyRound().catch((e) => log.warn(`sync guard: ${firstLine(e)}`))
    return r
  }
  return detectFailures(d, round, o)
}

export function candidateOf(state: SiteState, to: 'hot' | 'warm'): NodeName {
  const n = NODE_NAMES.find((x) => state.roles[x] === to)
  if (n) return n
  const roles = NODE_NAMES.map((x) => `${x}=${state.roles[x]}`).join(', ')
  const fix = to === 'hot' ? 'try --to warm, or run failback.ts to rejoin a fenced node first' : 'try --to hot'
  throw inputError('--to', to, `there is no ${to} standby in the site (roles: ${roles})`, fix)
}

/** Let an archive-fed candidate replay everything the archive holds (replay LSN stable). */
async function drainArchive(site: LocalSitePort, node: NodeName): Promise<void> {
  let last = ''
  let stableSince = Date.now()
  await waitFor(
    `${node} to replay all archived WAL`,
    async () => {
      const [r] = await query<{ lsn: string }>(
        site.conn(node, 'postgres'),
        'SELECT pg_last_wal_replay_lsn()::text AS lsn',
      )
      if (r!.lsn !== last) {
        last = r!.lsn
        stableSince = Date.now()
      }
      return Date.now() - stableSince > 6000 // longer than wal_retrieve_retry_interval (5 s)
    },
    3_600_000,
    250,
  )
}

/** A warm candidate, once the primary is down: replayed to the end of the archive, with the timeline it really follows. */
async function settleWarmCandidate(
  site: LocalSitePort,
  node: NodeName,
  probed: NodeStatus,
  primaryDown: boolean,
  dryRun: boolean,
): Promise<NodeStatus> {
  let status = probed
  if (primaryDown && status.reachable) {
    if (!dryRun) {
      log.info(`replaying all archived WAL into ${node} before measuring its data-loss window`)
      await drainArchive(site, node)
    }
    status = await probe(node, site.conn(node, 'postgres'))
  }
  const logFile = site.layout.node(node).log
  if (status.reachable && existsSync(logFile)) {
    // an archive-fed standby's timeline is the one it follows, not the newest history it fetched
    const followed = followedTimeline(readFileSync(logFile, 'utf8'))
    if (followed !== undefined) status = { ...status, timeline: followed }
  }
  return status
}

export async function gatherFacts(
  site: LocalSitePort,
  o: FailoverOptions,
): Promise<{ facts: FailoverFacts; candidate: NodeName; salvaged?: Salvage }> {
  const state = site.state()
  const candidate = candidateOf(state, o.to)
  const threshold = site.policy.detection.failureThreshold
  const planned = { consecutiveFailures: 0, threshold, firstFailureAt: null, lastSeenAt: Date.now() }
  const detection = o.detection ?? (o.switchover ? planned : await detect(site))
  const [primary, probed] = await Promise.all([
    probe(state.primary, site.conn(state.primary, 'postgres')),
    probe(candidate, site.conn(candidate, 'postgres')),
  ])
  const primaryDown = detection.consecutiveFailures >= detection.threshold
  let candidateStatus =
    o.to === 'warm' ? await settleWarmCandidate(site, candidate, probed, primaryDown, o.dryRun) : probed
  const synchronous = configuredSynchronous(site, state, candidate)
  // a dead primary's directory is still here: its WAL and control file are facts
  let onDisk = primaryDown ? await readDeadPrimary(site, state.primary, candidateStatus) : undefined
  // commits the dead primary (or a stopped standby) still holds on disk: fed to the candidate first
  // when any of them may have been acknowledged (the time it takes is RTO)
  const salvage =
    primaryDown && !o.switchover && !o.dryRun && acknowledgedAtRisk(o.to, synchronous, onDisk?.wal)
      ? await salvageInto(site, candidate, candidateStatus, o.to)
      : undefined
  if (salvage) [candidateStatus, onDisk] = [salvage.status, await readDeadPrimary(site, state.primary, salvage.status)]
  const lastSafeAt = newestSafePoint(site, candidateStatus)
  const loss = o.switchover
    ? { seconds: 0, basis: 'planned switchover' }
    : lossWindow(snap(candidateStatus), {
        synchronous,
        primaryWal: onDisk?.wal,
        lastSafeAt,
        primaryLastSeenAt: detection.lastSeenAt ?? detection.firstFailureAt,
        now: Date.now(),
      })
  const stanza = await site.br
    .info()
    .then((i) => ({ systemId: i.systemId, why: undefined }))
    .catch((e: Error) => ({ systemId: undefined, why: firstLine(e) }))
  const primarySnap = snap(primary)
  if (!primary.reachable && onDisk?.systemId) primarySnap.systemId = onDisk.systemId
  const facts: FailoverFacts = {
    primary: primarySnap,
    candidate: snap(candidateStatus),
    candidateSite: o.to,
    candidateFailover: site.policy.sites[o.to].failover === 'automatic' ? 'automatic' : 'manual',
    detection,
    stanzaSystemId: stanza.systemId,
    systemIdUnknown:
      primarySnap.systemId || stanza.systemId
        ? undefined
        : `${onDisk?.controlWhy ?? 'the primary answers nothing'}; the stanza: ${stanza.why}`,
    lastKnownTimeline: state.timeline,
    lossWindowSeconds: loss.seconds,
    lossBasis: loss.basis,
    tierRpoSeconds: site.policy.tiers[1].rpo,
    flags: { acceptDataLoss: o.acceptDataLoss, switchover: o.switchover, automatic: o.automatic },
  }
  return { candidate, facts, salvaged: salvage?.salvaged }
}

/**
 * Whether commits the candidate lacks may have been acknowledged: always for the warm site (the
 * hot standby confirmed them, not it), for an asynchronous candidate, when the dead primary's WAL
 * cannot be read, and when its log says a synchronous wait was cancelled. A synchronous hot
 * candidate otherwise lacks only commits no client was told of: no salvage, no time spent.
 */
function acknowledgedAtRisk(to: 'hot' | 'warm', synchronous: boolean, wal: PrimaryWal | undefined): boolean {
  if (to === 'warm' || !synchronous || !wal?.readable) return true
  return wal.missing.length > 0 && wal.releasedUnreplicated > 0
}

/** Salvage the dead nodes' WAL into the candidate; its status afterwards. */
async function salvageInto(
  site: LocalSitePort,
  candidate: NodeName,
  status: NodeStatus,
  to: 'hot' | 'warm',
): Promise<{ salvaged: Salvage; status: NodeStatus } | undefined> {
  const from = newestLsn(status)
  if (!from || status.timeline === undefined) return undefined
  const primary = site.state().primary
  const sources = [primary, ...NODE_NAMES.filter((n) => n !== primary && n !== candidate)]
  const salvaged = await salvageWal(site, candidate, from, status.timeline, sources)
  if (!salvaged) return undefined
  log.info(
    `salvaged ${salvaged.replayed} of ${salvaged.commits} commit(s) from ${salvaged.from}'s pg_wal into ${candidate} (${salvaged.segments.length} segment(s)) before promoting`,
  )
  const probed = await probe(candidate, site.conn(candidate, 'postgres'))
  // a warm candidate's timeline is the one its log says it follows; a hot one's is what it reports
  return { salvaged, status: to === 'warm' ? await settleWarmCandidate(site, candidate, probed, false, true) : probed }
}

/** The furthest WAL position a node reports (received or replayed). */
function newestLsn(n: NodeStatus): string | undefined {
  return [n.receiveLsn, n.lsn]
    .filter((x): x is string => !!x)
    .sort((a, b) => (lsnToBigInt(b) > lsnToBigInt(a) ? 1 : -1))[0]
}

/** Synchronous replication as configured for the candidate (no proof of anything by itself). */
function configuredSynchronous(site: LocalSitePort, state: SiteState, candidate: NodeName): boolean {
  return (
    site.policy.sites.hot.replication === 'synchronous' && site.settings.syncStandbys(state.primary).includes(candidate)
  )
}

/** The newest moment the candidate is known to hold everything: its last replayed commit, or the newest archived WAL. */
function newestSafePoint(site: LocalSitePort, candidate: NodeStatus): number | null {
  const lastReplay = candidate.lastReplayTs ? Date.parse(candidate.lastReplayTs) : null
  const safePoints = [lastReplay, site.newestArchivedAt()].filter((x): x is number => x !== null)
  return safePoints.length ? Math.max(...safePoints) : null
}

/**
 * Facts from a dead primary's own directory: its system identifier (pg_controldata), the commits
 * its WAL holds after what the candidate has (pg_waldump), and the synchronous waits its log says
 * were cancelled since the first of them (such commits were acknowledged unreplicated).
 */
async function readDeadPrimary(
  site: LocalSitePort,
  primary: NodeName,
  candidate: NodeStatus,
): Promise<{ wal: PrimaryWal; systemId?: string; controlWhy?: string }> {
  const paths = site.layout.node(primary)
  let control
  try {
    control = await controlData(site.run, paths.data)
  } catch (e) {
    const why = `pg_controldata of ${paths.data} failed: ${firstLine(e)}`
    return { wal: { readable: false, primary, why }, controlWhy: why }
  }
  const candidateLsn = newestLsn(candidate)
  if (!candidateLsn)
    return {
      wal: { readable: false, primary, why: 'the candidate reports no WAL position' },
      systemId: control.systemId,
    }
  try {
    const missing = await walCommitsAfter(site.run, paths.data, control.timeline, candidateLsn)
    // a cancelled wait follows its own commit record: count those since the first missing commit
    const log = existsSync(paths.log) ? readFileSync(paths.log, 'utf8') : ''
    const releasedUnreplicated = missing.length ? cancelledSyncWaits(log, missing[0]!.time) : 0
    return { wal: { readable: true, primary, candidateLsn, missing, releasedUnreplicated }, systemId: control.systemId }
  } catch (e) {
    return { wal: { readable: false, primary, why: `pg_waldump: ${(e as Error).message}` }, systemId: control.systemId }
  }
}

/** Synchronous-replication waits a server log says were cancelled (or ended by a shutdown) at or after `since` (ms). */
export function cancelledSyncWaits(log: string, since: number): number {
  let n = 0
  for (const line of log.split('\n')) {
    const m =
      /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (\w+) .*WARNING:\s+canceling (?:the )?wait for synchronous replication/.exec(
        line,
      )
    if (!m) continue
    const at = Date.parse(`${m[1]!.replace(' ', 'T')}${m[2] === 'UTC' ? 'Z' : ''}`)
    if (!Number.isFinite(at) || at >= since - 1000) n++
  }
  return n
}
