/**
 * The facts a local failover is decided on: detection, both nodes probed, the candidate's
 * real timeline (an archive-fed standby follows the one its log names), the data-loss window
 * and the stanza's system identifier.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { inputError } from '../../../../core/errors.ts'
import { lossWindow, type DetectionResult, type FailoverFacts } from '../../../../core/failover.ts'
import { followedTimeline, probe, query, type NodeStatus } from '../../adapters/postgres.ts'
import { waitFor, walkFiles } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import { NODE_NAMES, STANZA, type NodeName } from '../../sites/local/layout.ts'
import type { LocalSite, SiteState } from '../../sites/local/site.ts'
import { detectFailures, probePair, snap } from './detect.ts'

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
export function detect(site: LocalSite, o: { watch?: boolean; until?: number } = {}): Promise<DetectionResult> {
  const d = site.policy.detection
  const round = () => {
    const primary = site.state().primary
    return probePair(
      { name: primary, ...site.conn(primary, 'postgres') },
      site.endpointConn('postgres'),
      d.probeTimeout * 1000,
    )
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

/** The newest moment the archive is known to hold (mtime of the newest WAL in the posix repo). */
function newestArchivedAt(site: LocalSite): number | null {
  const root = join(site.layout.pgbackrest.repo1, 'archive', STANZA)
  if (!existsSync(root)) return null
  const wal = walkFiles(root).filter((f) => /^[0-9A-F]{24}-/.test(basename(f)))
  return wal.length ? Math.max(...wal.map((f) => statSync(f).mtimeMs)) : null
}

/** Let an archive-fed candidate replay everything the archive holds (replay LSN stable). */
async function drainArchive(site: LocalSite, node: NodeName): Promise<void> {
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
  site: LocalSite,
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
  site: LocalSite,
  o: FailoverOptions,
): Promise<{ facts: FailoverFacts; candidate: NodeName }> {
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
  const candidateStatus =
    o.to === 'warm' ? await settleWarmCandidate(site, candidate, probed, primaryDown, o.dryRun) : probed
  const primaryConf = existsSync(site.layout.node(state.primary).conf)
    ? readFileSync(site.layout.node(state.primary).conf, 'utf8')
    : ''
  const synchronous =
    site.policy.sites.hot.replication === 'synchronous' &&
    new RegExp(`synchronous_standby_names = '.*\\b${candidate}\\b`).test(primaryConf)
  const lastReplay = candidateStatus.lastReplayTs ? Date.parse(candidateStatus.lastReplayTs) : null
  const archived = newestArchivedAt(site)
  const safePoints = [lastReplay, archived].filter((x): x is number => x !== null)
  const lastSafeAt = safePoints.length ? Math.max(...safePoints) : null
  const loss = o.switchover
    ? { seconds: 0, basis: 'planned switchover' }
    : lossWindow(snap(candidateStatus), {
        synchronous,
        lastSafeAt,
        primaryLastSeenAt: detection.lastSeenAt ?? detection.firstFailureAt,
        now: Date.now(),
      })
  const stanzaSystemId = await site.br
    .info()
    .then((i) => i.systemId)
    .catch(() => undefined)
  const facts: FailoverFacts = {
    primary: snap(primary),
    candidate: snap(candidateStatus),
    candidateSite: o.to,
    candidateFailover: site.policy.sites[o.to].failover === 'automatic' ? 'automatic' : 'manual',
    detection,
    stanzaSystemId,
    lastKnownTimeline: state.timeline,
    lossWindowSeconds: loss.seconds,
    lossBasis: loss.basis,
    tierRpoSeconds: site.policy.tiers[1].rpo,
    flags: { acceptDataLoss: o.acceptDataLoss, switchover: o.switchover, automatic: o.automatic },
  }
  return { candidate, facts }
}
