/** The decision step every failover shares: ask the pure guards, audit the answer, refuse unless it promotes. */
import { decideFailover, type Decision, type FailoverFacts } from '../../../../core/failover.ts'
import { Refusal } from '../../../../core/errors.ts'
import type { AuditLog } from '../../output/audit.ts'

export type Promotion = Decision & { action: 'promote' }

const AUDIT_RESULT = { promote: 'ok', wait: 'skipped', refuse: 'refused' } as const

export function decide(facts: FailoverFacts, audit: AuditLog): Promotion {
  const decision = decideFailover(facts)
  audit.record('decide', AUDIT_RESULT[decision.action], { reason: decision.reason, facts })
  if (decision.action !== 'promote') throw new Refusal(decision.reason)
  return decision
}
