/**
 * Detecting a failed primary, for any stack: each probe round asks the primary directly and
 * through the endpoint, in parallel, with short timeouts; the policy's consecutive failures
 * make a detection. One loop serves a one-shot check and the --watch loop.
 */
import type { DetectionResult, NodeSnapshot } from '../../../../core/failover.ts'
import type { Detection } from '../../../../core/policy.ts'
import { probe, type Conn, type NodeStatus } from '../../adapters/postgres.ts'
import { sleep } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'

export interface ProbeRound {
  ok: boolean
  direct: NodeStatus
  endpoint: NodeStatus
}

/** The primary answered but refused the probe: alive, so no failure is counted (why, for the log). */
const refusal = (r: ProbeRound): string | undefined =>
  !r.ok && r.direct.refused ? (r.direct.error ?? 'refused') : undefined

/** A probe as the pure decision sees it: an immutable snapshot with an explicit "down". */
export const snap = (s: NodeStatus): NodeSnapshot => ({
  name: s.name,
  health: s.reachable ? 'up' : s.refused ? 'refused' : 'down',
  inRecovery: s.inRecovery,
  systemId: s.systemId,
  timeline: s.timeline,
  lsn: s.lsn,
  streaming: s.streaming,
  error: s.error,
})

/** One probe round: the primary directly and through the endpoint, in parallel, short timeouts. */
export async function probePair(
  direct: (Conn & { name: string }) | undefined,
  endpoint: Conn,
  timeoutMs: number,
): Promise<ProbeRound> {
  const none: NodeStatus = { name: 'primary', port: 0, reachable: false, error: 'no primary in this stack' }
  const [d, e] = await Promise.all([
    direct ? probe(direct.name, direct, timeoutMs) : Promise.resolve(none),
    probe('endpoint', endpoint, timeoutMs),
  ])
  // failure only when neither path reaches a writable primary: one flaky path is not a dead primary
  const ok = (d.reachable && d.inRecovery === false) || (e.reachable && e.inRecovery === false)
  return { ok, direct: d, endpoint: e }
}

export interface ProbeLoopOptions {
  /** keep probing after a success (--watch) instead of returning at the first answer */
  watch?: boolean
  /** give up (healthy) at this time (ms); default: never */
  until?: number
}

/**
 * Probe until the policy's consecutive failures (a detection), or until the primary answers
 * (one-shot), or until `until` passes while it keeps answering (watch).
 */
export async function detectFailures(
  d: Detection,
  round: () => Promise<ProbeRound>,
  o: ProbeLoopOptions = {},
): Promise<DetectionResult> {
  let failures = 0
  let firstFailureAt: number | null = null
  let lastSeenAt: number | null = null
  let saidRefused: string | undefined
  const until = o.until ?? Infinity
  const healthy = () => ({ consecutiveFailures: 0, threshold: d.failureThreshold, firstFailureAt: null, lastSeenAt })
  while (Date.now() < until) {
    const t = Date.now()
    const r = await round()
    // a server that answers is alive, even when it refuses the probe: a wrong login must never look like a dead primary
    const refused = refusal(r)
    if (refused || r.ok) {
      lastSeenAt = Date.now()
      if (refused && refused !== saidRefused)
        log.warn(
          `the primary answers but refuses the probe (${refused}): it is alive, so no failure is counted; fix the probe's login (user, password, TLS)`,
        )
      saidRefused = refused
      if (!o.watch) return healthy()
      if (failures) log.info(`primary answered again after ${failures} failed probe(s)`)
      failures = 0
      firstFailureAt = null
    } else {
      failures++
      firstFailureAt ??= t
      log.info(
        `probe ${failures}/${d.failureThreshold}: primary unreachable (${r.direct.error ?? 'in recovery'}; endpoint: ${r.endpoint.error ?? 'not a primary'})`,
      )
      if (failures >= d.failureThreshold)
        return { consecutiveFailures: failures, threshold: d.failureThreshold, firstFailureAt, lastSeenAt }
    }
    await sleep(Math.max(0, d.probeInterval * 1000 - (Date.now() - t)))
  }
  return healthy()
}
