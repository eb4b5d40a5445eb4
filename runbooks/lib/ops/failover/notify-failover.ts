/**
 * After a failover (local or cloud): tell the people in the communication plan's order what
 * happened — measured RTO, the data-loss window and what it rests on, what is next — and who
 * commands the incident. Every result goes to the audit log; a webhook that fails is reported,
 * never fatal (traffic is already restored).
 */
import { formatDuration } from '../../../../core/duration.ts'
import type { DrPolicy } from '../../../../core/policy.ts'
import { notify, type NotifyResult, type Webhook } from '../../adapters/notify.ts'
import type { AuditLog } from '../../output/audit.ts'

export interface FailoverOutcome {
  mode: string
  from: string
  to: string
  rtoSeconds: number
  lossWindowSeconds: number
  lossBasis: string
  /** the next step, in one sentence */
  next: string
}

export function failoverMessage(p: DrPolicy, stack: string, o: FailoverOutcome): string {
  const commander = p.team.find((t) => t.role === 'incident_commander')?.contact ?? 'n/a'
  return (
    `[labdojo-dr ${stack}] ${o.mode} ${o.from} -> ${o.to}: traffic restored, measured RTO ${formatDuration(o.rtoSeconds)}; ` +
    `data-loss window ${formatDuration(o.lossWindowSeconds)} (${o.lossBasis}). ${o.next}. ` +
    `Incident commander: ${commander}`
  )
}

export async function notifyFailover(
  p: DrPolicy,
  stack: string,
  o: FailoverOutcome,
  hooks: Webhook[],
  audit: AuditLog,
): Promise<NotifyResult[]> {
  const results = await notify(hooks, failoverMessage(p, stack, o))
  audit.record('notify', results.every((n) => n.ok) ? 'ok' : 'failed', { results })
  return results
}
