/**
 * Automatic failover on a cloud stack, decided (pure): this watcher's own probes are one vantage
 * point, and a partition between it and the primary looks exactly like a dead primary while
 * clients still write to it. So a promotion needs a second, independent opinion: the distributed
 * observer — the CloudWatch alarm on PrimaryUp, the maximum over every region's DR exporter,
 * which the Route53 failover record's health check reads too. Without that opinion, no
 * automatic failover: a person decides (failover.ts by hand, with its guards).
 */

/** What the distributed observer says of the primary: down (alarm), up (ok), or it cannot be asked. */
export type ObserverVerdict = { state: 'down' | 'up' | 'unknown'; detail: string }

export interface WatchFacts {
  consecutiveFailures: number
  threshold: number
  observer: ObserverVerdict
}

export function cloudWatchDecision(f: WatchFacts): { act: boolean; reason: string } {
  if (f.consecutiveFailures < f.threshold)
    return { act: false, reason: `primary answered (${f.consecutiveFailures} of ${f.threshold} failed probes)` }
  const mine = `this watcher failed ${f.consecutiveFailures} consecutive probes of the primary`
  switch (f.observer.state) {
    case 'down':
      return { act: true, reason: `${mine}, and the distributed observer agrees it is down (${f.observer.detail})` }
    case 'up':
      return {
        act: false,
        reason: `${mine}, but the distributed observer still sees it answer as a primary (${f.observer.detail}): a partition between this watcher and the primary, not a dead primary; no failover`,
      }
    case 'unknown':
      return {
        act: false,
        reason: `${mine}, but the distributed observer cannot be asked (${f.observer.detail}): no automatic failover on one vantage point; if you know the primary is gone, run failover.ts by hand`,
      }
  }
}
