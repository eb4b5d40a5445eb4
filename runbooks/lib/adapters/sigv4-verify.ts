/**
 * Server-side check of an S3 request's AWS Signature Version 4 (header form), for the local
 * site's offsite store: the signature is computed again with the library the AWS SDK signs with
 * (@smithy/signature-v4, path not re-encoded as S3 wants it) from the request's own method, raw
 * path, query and the headers it says it signed, with the site's secret, and compared in constant
 * time. What real S3 refuses, this refuses: no signature (anonymous), another key, a wrong
 * signature, a request dated more than 15 minutes from now. The payload is bound through the
 * signed x-amz-content-sha256 header; TLS carries the body unaltered (pgBackRest checksums every
 * file it stores as well).
 */
import { timingSafeEqual } from 'node:crypto'
import { Sha256 } from '@aws-crypto/sha256-js'
import { SignatureV4 } from '@smithy/signature-v4'

export interface SigV4Request {
  method: string
  /** the body, for services that sign its hash without an x-amz-content-sha256 header (CloudWatch, Route53) */
  body?: string
  /** the request target as received: raw path and query */
  url: string
  headers: Record<string, string | string[] | undefined>
}

export interface SiteKey {
  accessKeyId: string
  secretAccessKey: string
}

export type SigV4Verdict = { ok: true } | { ok: false; code: string; message: string }

/** S3 refuses a request whose date is further than this from its clock (RequestTimeTooSkewed). */
export const MAX_SKEW_MS = 15 * 60 * 1000

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/

const refuse = (code: string, message: string): SigV4Verdict => ({ ok: false, code, message })

/** Split a raw query string into decoded key -> value(s), as the signer canonicalizes them. */
function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const part of raw.split('&').filter(Boolean)) {
    const eq = part.indexOf('=')
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq))
    const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1))
    const had = out[key]
    out[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
  }
  return out
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v)

/** x-amz-date (20261207T013329Z) as a Date, or undefined. */
function amzDate(v: string | undefined): Date | undefined {
  const m = v && /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v)
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined
}

export async function verifySigV4(req: SigV4Request, key: SiteKey, now = new Date()): Promise<SigV4Verdict> {
  const auth = one(req.headers.authorization)
  if (!auth)
    return refuse(
      'AccessDenied',
      req.url.includes('X-Amz-Signature=') ? 'presigned URLs are not accepted here' : 'anonymous access is refused',
    )
  const m = AUTH.exec(auth)
  if (!m) return refuse('AccessDenied', 'only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted')
  const [, accessKeyId, shortDate, region, service, signedList, signature] = m
  if (accessKeyId !== key.accessKeyId) return refuse('InvalidAccessKeyId', 'the access key is not this site’s')
  const date = amzDate(one(req.headers['x-amz-date']))
  if (!date || !date.toISOString().replace(/-/g, '').startsWith(shortDate!))
    return refuse('AccessDenied', 'x-amz-date is missing or does not match the credential scope')
  if (Math.abs(now.getTime() - date.getTime()) > MAX_SKEW_MS)
    return refuse('RequestTimeTooSkewed', 'the request time is more than 15 minutes from the server’s')
  const signed = signedList!.split(';')
  if (!signed.includes('host')) return refuse('AccessDenied', 'the host header must be signed')
  const headers: Record<string, string> = {}
  for (const h of signed) {
    const v = one(req.headers[h])
    if (v === undefined) return refuse('AccessDenied', `signed header ${h} is missing`)
    headers[h] = v
  }
  const q = req.url.indexOf('?')
  const path = q < 0 ? req.url : req.url.slice(0, q)
  let query: Record<string, string | string[]>
  try {
    query = parseQuery(q < 0 ? '' : req.url.slice(q + 1))
  } catch {
    return refuse('AccessDenied', 'the query string is not well formed')
  }
  const signer = new SignatureV4({
    credentials: key,
    region: region!,
    service: service!,
    sha256: Sha256,
    uriEscapePath: false, // S3 signs the path as sent, not encoded twice
    applyChecksum: false, // the payload hash is whatever the client signed in x-amz-content-sha256
  })
  const again = await signer.sign(
    {
      method: req.method,
      protocol: 'https:',
      hostname: headers.host!,
      path,
      query,
      headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
    },
    { signingDate: date, signableHeaders: new Set(signed), signingRegion: region, signingService: service },
  )
  const expected = /Signature=([0-9a-f]{64})/.exec(String(again.headers.authorization))?.[1] ?? ''
  const sameList = /SignedHeaders=([a-z0-9;-]+)/.exec(String(again.headers.authorization))?.[1] === signedList
  const equal = expected.length === 64 && timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))
  return sameList && equal
    ? { ok: true }
    : refuse('SignatureDoesNotMatch', 'the request signature does not match the one computed with the site’s key')
}
