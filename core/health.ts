/**
 * Health rules for the nodes of a site, by role (pure). A node's live facts come from a probe
 * (and, for a standby, the primary's replication view); the rule says whether that is what its
 * role requires.
 */
import type { DrPolicy } from './policy.ts'

export type Role = 'primary' | 'hot' | 'warm' | 'fenced'

export interface NodeFacts {
  reachable: boolean
  inRecovery?: boolean
  /** the primary sees this standby streaming */
  streaming: boolean
  /** bytes behind the primary (undefined when unknown) */
  lagBytes?: number
  /** seconds since the last replayed transaction (null when none) */
  replayAgeSeconds: number | null
}

/**
 * An archive-fed standby is always behind by what the archive has not received yet: the segment
 * the primary is writing (archive_timeout closes it) plus the asynchronous push queue. Four 16 MiB
 * segments is that slack; beyond it, the warm site's RPO decides.
 */
export const ARCHIVE_FED_SLACK_BYTES = 4 * 16 * 1024 * 1024

/** Is this node what its role requires? */
export function nodeHealthy(role: Role, node: NodeFacts, policy: DrPolicy): boolean {
  switch (role) {
    case 'fenced':
      return !node.reachable || node.inRecovery === true
    case 'primary':
      return node.reachable && node.inRecovery === false
    case 'hot':
      return node.reachable && node.inRecovery === true && node.streaming
    case 'warm': {
      const withinSlack = node.lagBytes === undefined || node.lagBytes < ARCHIVE_FED_SLACK_BYTES
      const withinRpo = (node.replayAgeSeconds ?? 0) < policy.sites.warm.rpo
      return node.reachable && node.inRecovery === true && (withinSlack || withinRpo)
    }
  }
}
