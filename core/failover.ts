/**
 * The failover decision, pure: an ordered list of guard clauses in the style of Patroni's
 * ha loop. Each branch returns a sentence that says what it decided and why, with numbers.
 */
import { formatDuration } from './duration.ts'

/** refused: the server answered but would not let the probe read it (login, TLS, privilege): alive */
export type Health = 'up' | 'down' | 'refused' | 'unknown'

/** An immutable snapshot of one node, with an explicit unknown case. */
export interface NodeSnapshot {
  name: string
  health: Health
  inRecovery?: boolean
  systemId?: string
  timeline?: number
  /** primary: current LSN; standby: last replayed */
  lsn?: string
  /** standby: is its walreceiver streaming */
  streaming?: boolean
  /** standby: sync_state as the primary last reported it */
  syncState?: string | null
  error?: string
}

export interface DetectionResult {
  /** consecutive failed probes of the primary (direct and through the endpoint) */
  consecutiveFailures: number
  threshold: number
  /** when the first of those failures was seen (ms) */
  firstFailureAt: number | null
  /** the last time the primary answered (ms) */
  lastSeenAt: number | null
}

export type Mode = 'failover' | 'switchover'

/**
 * Modes and their preconditions, written down:
 * - failover: the primary failed `threshold` consecutive probes; the candidate must be a
 *   healthy standby of the same system and timeline, within the tier RPO unless accepted.
 * - switchover: planned; the primary must be healthy; zero data loss (the candidate
 *   replays up to the old primary's shutdown checkpoint before it is promoted).
 */
export const MODES: Record<Mode, { primaryMustBe: Health; dataLoss: 'bounded by RPO' | 'none' }> = {
  failover: { primaryMustBe: 'down', dataLoss: 'bounded by RPO' },
  switchover: { primaryMustBe: 'up', dataLoss: 'none' },
}

export interface FailoverFacts {
  primary: NodeSnapshot
  candidate: NodeSnapshot
  candidateSite: 'hot' | 'warm'
  candidateFailover: 'automatic' | 'manual'
  detection: DetectionResult
  /** the stanza's system identifier, when known (the repo is the tie-breaker when the primary is gone) */
  stanzaSystemId?: string
  /** why neither the primary nor the stanza could say which cluster this is (an unknown never passes the guard) */
  systemIdUnknown?: string
  /** last timeline the primary was known on (site state), for a dead primary */
  lastKnownTimeline?: number
  /** estimated data-loss window in seconds (0 = none possible) and how it was derived */
  lossWindowSeconds: number
  lossBasis: string
  tierRpoSeconds: number
  flags: { acceptDataLoss: boolean; switchover: boolean; automatic: boolean }
}

export type Decision =
  | { action: 'promote'; mode: Mode; reason: string }
  | { action: 'wait'; reason: string }
  | { action: 'refuse'; reason: string }

const refuse = (reason: string): Decision => ({ action: 'refuse', reason: `refusing: ${reason}` })

/** The guards in order; the first that speaks decides. */
export function decideFailover(f: FailoverFacts): Decision {
  return candidateGuards(f) ?? (f.flags.switchover ? switchoverDecision(f) : failoverDecision(f))
}

/** Whatever the mode: the candidate must be a reachable standby of this cluster, on its timeline, allowed to fail over so. */
function candidateGuards(f: FailoverFacts): Decision | undefined {
  const c = f.candidate
  const p = f.primary
  if (c.health === 'refused')
    return refuse(
      `candidate ${c.name} answers but refuses the probe (${c.error ?? 'no reason given'}), so its state cannot be read; fix the probe's login (user, password, TLS) before any promotion`,
    )
  if (c.health !== 'up')
    return refuse(`candidate ${c.name} is unreachable (${c.error ?? 'no answer'}); there is nothing healthy to promote`)
  if (c.inRecovery === false)
    return refuse(
      `candidate ${c.name} is already a primary, not a standby; two primaries would be a split brain - investigate before any promotion`,
    )
  const sysid = p.systemId ?? f.stanzaSystemId
  if (!sysid && f.systemIdUnknown)
    return refuse(
      `cannot verify that candidate ${c.name} is a replica of this cluster: ${f.systemIdUnknown}. Check by hand (pg_controldata), then restore the stanza or bring the primary's directory back`,
    )
  if (sysid && c.systemId && c.systemId !== sysid)
    return refuse(
      `candidate ${c.name} has system identifier ${c.systemId}, the ${p.systemId ? 'primary' : 'backup stanza'} has ${sysid}; it is not a replica of this cluster`,
    )
  const tl = p.health === 'up' ? p.timeline : f.lastKnownTimeline
  if (tl !== undefined && c.timeline !== undefined && c.timeline !== tl)
    return refuse(
      `candidate ${c.name} is on timeline ${c.timeline}, the primary ${p.health === 'up' ? 'is' : 'was last'} on timeline ${tl}; promoting it would fork history. Bring back a node of timeline ${tl}, or restore from the backups (restore.ts --target latest) instead`,
    )
  if (f.flags.automatic && f.candidateFailover === 'manual')
    return refuse(
      `the ${f.candidateSite} site fails over manually by policy; run failover.ts --to ${f.candidateSite} yourself`,
    )
  return undefined
}

/** Planned: a healthy primary, and a candidate that can replay up to its last record. */
function switchoverDecision(f: FailoverFacts): Decision {
  const c = f.candidate
  const p = f.primary
  if (p.health !== 'up' || p.inRecovery !== false)
    return refuse(
      `a switchover needs a healthy primary, and ${p.name} is ${p.health === 'up' ? 'in recovery' : `down (${p.error ?? 'no answer'})`}; run a failover instead (drop --switchover)`,
    )
  if (f.candidateSite === 'hot' && !c.streaming)
    return refuse(
      `candidate ${c.name} is not streaming from ${p.name}, so it cannot catch up for a zero-loss switchover`,
    )
  return {
    action: 'promote',
    mode: 'switchover',
    reason: `switching over to ${c.name}: planned, ${p.name} healthy; ${p.name} stops first and ${c.name} replays to its last record: no data loss`,
  }
}

/** Unplanned: the primary failed the policy's consecutive probes, and the loss window is within the RPO (or accepted). */
function failoverDecision(f: FailoverFacts): Decision {
  const c = f.candidate
  const p = f.primary
  const d = f.detection
  const rpo = formatDuration(f.tierRpoSeconds)
  if (p.health === 'refused')
    return refuse(
      `primary ${p.name} answers but refuses the probe (${p.error ?? 'no reason given'}): a server that answers is alive, and promoting a standby beside it would split the brain. Fix the probe's login (user, password, TLS: a PGO cluster takes password logins over TLS only); if it must go, fence it first`,
    )
  if (p.health === 'up' && p.inRecovery === false && d.consecutiveFailures === 0)
    return refuse(
      `primary ${p.name} is healthy (its last ${d.threshold} probes answered); pass --switchover for a planned switchover with zero data loss`,
    )
  if (d.consecutiveFailures < d.threshold)
    return {
      action: 'wait',
      reason: `not failing over yet: primary ${p.name} failed ${d.consecutiveFailures} of ${d.threshold} consecutive probes`,
    }
  if (f.lossWindowSeconds > f.tierRpoSeconds && !f.flags.acceptDataLoss)
    return refuse(
      `${f.candidateSite} standby ${c.name} is ${formatDuration(f.lossWindowSeconds)} behind (${f.lossBasis}), tier-1 RPO is ${rpo}; pass --accept-data-loss to override`,
    )
  const beyond = f.lossWindowSeconds > f.tierRpoSeconds
  const loss =
    f.lossWindowSeconds === 0
      ? `no data loss (${f.lossBasis})`
      : `data-loss window up to ${formatDuration(f.lossWindowSeconds)} (${f.lossBasis}${beyond ? `, beyond the ${rpo} RPO: accepted by --accept-data-loss` : `, within the ${rpo} RPO`})`
  return {
    action: 'promote',
    mode: 'failover',
    reason: `failing over to ${f.candidateSite} standby ${c.name}: primary ${p.name} failed ${d.consecutiveFailures} consecutive probes; ${loss}`,
  }
}

/**
 * What the old primary's own WAL says (read from its stopped data directory): the commits it
 * holds after what the candidate has, and how many commits its log says it released without
 * waiting for replication (cancelled synchronous waits) since the candidate's last commit.
 */
export type PrimaryWal =
  | {
      readable: true
      primary: string
      candidateLsn: string
      missing: { lsn: string; time: number }[]
      releasedUnreplicated: number
    }
  | { readable: false; primary: string; why: string }

/**
 * The data-loss window a candidate implies, from what was observed.
 * - The old primary's WAL could be read: no commit after the candidate's position means no loss;
 *   commits there were acknowledged only if replication was asynchronous or a synchronous wait
 *   was cancelled (the primary's log says so): the window runs to the last of them.
 * - It could not be read: bounded by the candidate's newest safe point and the primary's last
 *   answer, whatever the replication settings say.
 * - No reading was possible at all (a cloud stack): the configured mode, said as such.
 */
export function lossWindow(
  c: NodeSnapshot,
  o: {
    synchronous: boolean
    primaryWal?: PrimaryWal
    lastSafeAt: number | null
    primaryLastSeenAt: number | null
    now: number
  },
): { seconds: number; basis: string } {
  const wal = o.primaryWal
  if (wal?.readable) return observedLoss(c, wal, o.synchronous, o.lastSafeAt)
  if (!wal && o.synchronous)
    return {
      seconds: 0,
      basis: `synchronous replication configured for ${c.name} (the old primary's WAL cannot be read from here to confirm it)`,
    }
  const until = o.primaryLastSeenAt ?? o.now
  const unread = wal ? `${wal.primary}'s WAL cannot be read (${wal.why}); ` : ''
  if (o.lastSafeAt === null)
    return {
      seconds: Math.max(0, (o.now - until) / 1000) + 86400,
      basis: `${unread}${c.name} holds no datable WAL: window unknown, assumed beyond any RPO`,
    }
  const seconds = Math.max(0, (until - o.lastSafeAt) / 1000)
  return {
    seconds,
    basis: `${unread}${c.name} holds everything up to ${new Date(o.lastSafeAt).toISOString()}, ${formatDuration(seconds)} before the primary's last answer`,
  }
}

function observedLoss(
  c: NodeSnapshot,
  wal: Extract<PrimaryWal, { readable: true }>,
  synchronous: boolean,
  lastSafeAt: number | null,
): { seconds: number; basis: string } {
  const n = wal.missing.length
  const after = `${wal.primary}'s own WAL after ${wal.candidateLsn} (what ${c.name} holds)`
  if (n === 0) return { seconds: 0, basis: `observed: ${after} holds no commit` }
  if (synchronous && wal.releasedUnreplicated === 0)
    return {
      seconds: 0,
      basis: `observed: ${n} commit(s) in ${after} never reached ${c.name}, but synchronous replication held them and ${wal.primary}'s log shows no wait cancelled: none was acknowledged`,
    }
  const first = wal.missing[0]!.time
  const last = wal.missing.at(-1)!.time
  // at least a millisecond: commits were lost, whatever the clocks say
  const seconds = Math.max(0.001, (last - Math.min(lastSafeAt ?? first, first)) / 1000)
  const why = synchronous
    ? `${wal.releasedUnreplicated} synchronous wait(s) cancelled in ${wal.primary}'s log: acknowledged without replication`
    : 'asynchronous replication: they may have been acknowledged'
  return {
    seconds,
    basis: `observed: ${n} commit(s) in ${after} never reached ${c.name} (${new Date(first).toISOString()} .. ${new Date(last).toISOString()}; ${why})`,
  }
}
