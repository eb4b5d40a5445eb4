/**
 * A runbook that fails tells a person at once, through the same webhooks Alertmanager uses —
 * the first recipient of the communication plan (escalation stays Alertmanager's job). Best
 * effort: the failure itself is what the runbook reports and exits with; a webhook that does
 * not answer is logged, never fatal.
 */
import { notify, type Webhook } from '../adapters/notify.ts'
import { log } from '../output/log.ts'
import { redact } from '../output/redact.ts'
import type { DrPolicy } from '../../../core/policy.ts'

export async function alertNow(p: DrPolicy, hooks: Webhook[], what: string, why: string): Promise<void> {
  const first = p.communication.notificationOrder[0]
  const to = hooks.filter((h) => h.recipient === first)
  if (!to.length) return
  // a failed command's message is the command, then what it printed: both, on one line
  const cause = why.split('\n').filter(Boolean).slice(0, 2).join(' | ')
  const text = redact(`[FAILED] ${what}: ${cause} (labdojo-dr; the audit log has the details)`)
  for (const r of await notify(to, text))
    if (!r.ok) log.warn(`could not notify ${r.recipient} of the failure (${r.status})`)
}
