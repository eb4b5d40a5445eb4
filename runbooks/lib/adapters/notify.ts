/**
 * Notifications along the communication plan: Slack-compatible incoming webhooks, posted in
 * the policy's notification order. The URLs are secrets (their path is the credential): they
 * come from a 0600 file outside the repo or from the environment, and are never logged.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import type { DrPolicy } from '../../../core/policy.ts'
import { inputError } from '../../../core/errors.ts'
import { registerSecret } from '../output/redact.ts'

export interface Webhook {
  recipient: string
  url: string
}

/** webhooks.json: { "IT_Operations_Manager": "https://...", "Executive_Leadership": ["https://..."] } */
export function loadWebhooks(p: DrPolicy, file: string | undefined, env = process.env): Webhook[] {
  const out: Webhook[] = []
  if (file && existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0)
      throw inputError(
        file,
        undefined,
        'webhook URLs are secrets but the file is readable by others',
        `chmod 600 ${file}`,
      )
    let raw: Record<string, string | string[]>
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'))
    } catch (e) {
      throw inputError(file, undefined, `is not JSON: ${(e as Error).message}`, 'write {"<recipient>": "https://..."}')
    }
    for (const [recipient, urls] of Object.entries(raw)) {
      if (!p.communication.notificationOrder.includes(recipient))
        throw inputError(
          `${file}: ${recipient}`,
          recipient,
          `is not in the policy's notification order (${p.communication.notificationOrder.join(', ')})`,
          'use one of those names',
        )
      for (const url of [urls].flat()) out.push({ recipient, url })
    }
  }
  if (env.LABDOJO_WEBHOOK_URL)
    out.push({ recipient: p.communication.notificationOrder[0]!, url: env.LABDOJO_WEBHOOK_URL })
  for (const w of out) {
    if (!/^https?:\/\//.test(w.url))
      throw inputError(`webhook for ${w.recipient}`, '(hidden)', 'is not an http(s) URL', 'fix the webhook file')
    registerSecret(w.url)
  }
  const order = p.communication.notificationOrder
  return out.sort((a, b) => order.indexOf(a.recipient) - order.indexOf(b.recipient))
}

export interface NotifyResult {
  recipient: string
  ok: boolean
  status: number | string
}

/** Post to each recipient in order; a failed post is reported, never fatal. */
export async function notify(hooks: Webhook[], text: string, timeoutMs = 3000): Promise<NotifyResult[]> {
  const results: NotifyResult[] = []
  for (const h of hooks) {
    try {
      const r = await fetch(h.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
        signal: AbortSignal.timeout(timeoutMs),
      })
      results.push({ recipient: h.recipient, ok: r.ok, status: r.status })
    } catch (e) {
      results.push({ recipient: h.recipient, ok: false, status: (e as Error).name })
    }
  }
  return results
}
