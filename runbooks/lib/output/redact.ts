/**
 * Secrets never reach logs, reports or the audit trail: every secret the process loads is
 * registered here, and every line we print or record passes through `redact`.
 */
const secrets = new Set<string>()

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secrets.add(value)
}

export function redact(text: string): string {
  let out = text
  for (const s of secrets) out = out.split(s).join('***')
  // webhook-style URLs carry their secret in the path
  return out.replace(/(https?:\/\/[^/\s]+\/)(services|hooks|webhook)[^\s"']*/gi, '$1$2/***')
}

export function redactDeep<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value ?? null))) as T
}
