/**
 * Communication-plan validation: a test message to every channel, in the plan's notification
 * order, each carrying a nonce; a channel counts as reached when the message was accepted (a
 * 2xx from the webhook) — and, for channels a local receiver stands in for, when that receiver
 * holds the nonce. Latency per channel is recorded. With no webhooks configured the drill
 * says so and stands a local receiver in for every recipient: the plan's order and the
 * notification path are then proven, the real channels are not.
 */
import { randomUUID } from 'node:crypto'
import { notify, type Webhook } from '../../adapters/notify.ts'
import { WebhookReceiver } from '../../adapters/webhook-receiver.ts'
import type { DrPolicy } from '../../../../core/policy.ts'

export interface ChannelCheck {
  recipient: string
  reached: boolean
  status: number | string
  latencyMs: number
}

export interface CommsDrillResult {
  /** 'configured': the site's webhooks; 'stand-in': a local receiver for each recipient */
  channels: 'configured' | 'stand-in'
  checks: ChannelCheck[]
  inOrder: boolean
  ok: boolean
  note: string
}

export async function commsDrill(p: DrPolicy, hooks: Webhook[]): Promise<CommsDrillResult> {
  const receiver = hooks.length ? undefined : await WebhookReceiver.start()
  try {
    const targets = receiver
      ? p.communication.notificationOrder.map((recipient) => ({ recipient, url: receiver.url(recipient) }))
      : hooks
    const nonce = randomUUID()
    const checks: ChannelCheck[] = []
    for (const [i, h] of targets.entries()) {
      const text = `[labdojo-dr drill] communication-plan test ${i + 1}/${targets.length} for ${h.recipient}: no action needed (${nonce})`
      const t0 = Date.now()
      const [r] = await notify([h], text)
      const latencyMs = Date.now() - t0
      const got = receiver?.received.find(
        (m) => m.path === `/${encodeURIComponent(h.recipient)}` && m.body.includes(nonce),
      )
      checks.push({
        recipient: h.recipient,
        reached: !!r?.ok && (!receiver || !!got),
        status: r?.status ?? 'none',
        latencyMs,
      })
    }
    const order = p.communication.notificationOrder
    const ranks = checks.map((c) => order.indexOf(c.recipient))
    const inOrder = ranks.every((r, i) => i === 0 || r >= ranks[i - 1]!)
    const missing = order.filter((r) => !checks.some((c) => c.recipient === r))
    const ok = checks.length > 0 && checks.every((c) => c.reached) && inOrder
    const note = receiver
      ? `no webhooks configured: a local receiver stood in for all ${order.length} recipients; the real channels are untested (configure webhooks.json)`
      : missing.length
        ? `no webhook for ${missing.join(', ')} (their channels are untested)`
        : `every recipient of the plan has a webhook`
    return { channels: receiver ? 'stand-in' : 'configured', checks, inOrder, ok, note }
  } finally {
    await receiver?.close()
  }
}
