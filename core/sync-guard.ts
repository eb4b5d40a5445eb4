/**
 * Synchronous replication when the hot standby goes away (pure). With `syncFallback: never`
 * (strict) commits wait until a standby is back: nothing acknowledged can be lost. With a
 * duration, after that long without a synchronous standby the primary degrades to asynchronous
 * (commits are acknowledged again, an alert says the loss window is open) and goes back to
 * synchronous as soon as a hot standby streams again.
 */
export type SyncFallback = number | 'never'

export interface SyncFacts {
  /** the policy wants synchronous replication to the hot site */
  wanted: boolean
  /** standbys named in the primary's synchronous_standby_names ([] = asynchronous) */
  configured: string[]
  /** standbys the primary reports in sync (sync_state sync or quorum) */
  inSync: string[]
  /** hot standbys streaming from the primary */
  streaming: string[]
  /** how long (s) no standby has been in sync, while synchronous; null when one is */
  withoutSyncSeconds: number | null
}

export type SyncDecision =
  | { action: 'none'; reason: string }
  | { action: 'wait'; reason: string }
  | { action: 'degrade'; reason: string }
  | { action: 'restore'; standbys: string[]; reason: string }

export function decideSync(fallback: SyncFallback, f: SyncFacts): SyncDecision {
  if (!f.wanted) return { action: 'none', reason: 'the policy replicates the hot site asynchronously' }
  if (f.configured.length === 0) {
    if (f.streaming.length)
      return {
        action: 'restore',
        standbys: f.streaming,
        reason: `${f.streaming.join(', ')} streams again: back to synchronous replication`,
      }
    return { action: 'none', reason: 'degraded to asynchronous: no hot standby streams yet' }
  }
  if (f.inSync.length) return { action: 'none', reason: `synchronous with ${f.inSync.join(', ')}` }
  const lost = f.withoutSyncSeconds ?? 0
  if (fallback === 'never')
    return {
      action: 'none',
      reason: `strict: no synchronous standby for ${lost.toFixed(0)} s, commits wait until one is back (syncFallback: never)`,
    }
  if (lost < fallback)
    return {
      action: 'wait',
      reason: `no synchronous standby for ${lost.toFixed(0)} s: degrading to asynchronous after ${fallback} s`,
    }
  return {
    action: 'degrade',
    reason: `no synchronous standby for ${lost.toFixed(0)} s (over syncFallback ${fallback} s): degrading to asynchronous so commits are acknowledged again; commits from now on can be lost with the primary until a standby is back`,
  }
}
