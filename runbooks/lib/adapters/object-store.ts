/**
 * A minimal S3 client (SigV4 via @smithy/signature-v4) for the objects we store ourselves:
 * logical exports. Bodies stream (UNSIGNED-PAYLOAD, with a Content-MD5 when given: buckets with
 * Object Lock require one), so a large export is never held in memory. Path-style for a custom
 * endpoint (the local s3rver, whose self-signed certificate `ca` pins rather than switching
 * verification off), virtual-hosted style for AWS.
 */
import { request, Agent } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { SignatureV4 } from '@smithy/signature-v4'
import { Sha256 } from '@aws-crypto/sha256-js'

export interface ObjectStoreConfig {
  /** https://host:port; absent: AWS, https://<bucket>.s3.<region>.amazonaws.com */
  endpoint?: string
  bucket: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  /** PEM of a certificate to trust (a self-signed local endpoint) */
  ca?: string
  timeoutMs?: number
}

export interface ObjectInfo {
  key: string
  size: number
  lastModified: number
}

const xmlText = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')

export class ObjectStore {
  private readonly url: URL
  private readonly pathStyle: boolean
  private readonly agent: Agent
  private readonly signer: SignatureV4

  constructor(readonly c: ObjectStoreConfig) {
    this.pathStyle = c.endpoint !== undefined
    this.url = new URL(c.endpoint ?? `https://${c.bucket}.s3.${c.region}.amazonaws.com`)
    this.agent = new Agent({ keepAlive: true, ca: c.ca })
    this.signer = new SignatureV4({
      service: 's3',
      region: c.region,
      sha256: Sha256,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
    })
  }

  describe(key = ''): string {
    return `s3://${this.c.bucket}/${key}`
  }

  private path(key: string): string {
    const k = key.split('/').map(encodeURIComponent).join('/')
    if (!this.pathStyle) return `/${k}`
    return key ? `/${this.c.bucket}/${k}` : `/${this.c.bucket}`
  }

  private async send(
    method: string,
    key: string,
    query: Record<string, string> = {},
    body?: { stream: Readable; length: number; md5?: string },
  ): Promise<IncomingMessage> {
    const headers: Record<string, string> = { host: this.url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }
    if (body) headers['content-length'] = String(body.length)
    if (body?.md5) headers['content-md5'] = body.md5
    const signed = await this.signer.sign({
      method,
      protocol: 'https:',
      hostname: this.url.hostname,
      port: Number(this.url.port) || 443,
      path: this.path(key),
      query,
      headers,
    })
    const qs = new URLSearchParams(query).toString()
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          host: this.url.hostname,
          port: this.url.port || 443,
          path: this.path(key) + (qs ? `?${qs}` : ''),
          headers: signed.headers,
          agent: this.agent,
          timeout: this.c.timeoutMs ?? 30_000,
        },
        resolve,
      )
      req.on('timeout', () =>
        req.destroy(
          new Error(`${method} ${this.describe(key)}: no answer within ${(this.c.timeoutMs ?? 30_000) / 1000} s`),
        ),
      )
      req.on('error', reject)
      if (body) {
        body.stream.on('error', (e) => req.destroy(e))
        body.stream.pipe(req)
      } else req.end()
    })
  }

  private async expectOk(res: IncomingMessage, what: string): Promise<void> {
    if (res.statusCode! >= 200 && res.statusCode! < 300) return
    const text = (await readAll(res)).toString('utf8')
    throw new Error(
      `${what} failed (HTTP ${res.statusCode}): ${/<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? text.slice(0, 200)}`,
    )
  }

  /** `md5`: base64 Content-MD5 of the body (required by buckets with Object Lock). */
  async put(key: string, stream: Readable, length: number, md5?: string): Promise<void> {
    const res = await this.send('PUT', key, {}, { stream, length, md5 })
    await this.expectOk(res, `PUT ${this.describe(key)}`)
    res.resume()
  }

  /** The object's body as a stream. */
  async get(key: string): Promise<IncomingMessage> {
    const res = await this.send('GET', key)
    await this.expectOk(res, `GET ${this.describe(key)}`)
    return res
  }

  async delete(key: string): Promise<void> {
    const res = await this.send('DELETE', key)
    await this.expectOk(res, `DELETE ${this.describe(key)}`)
    res.resume()
  }

  /** Every object under a prefix (ListObjectsV2, following continuation tokens). */
  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = []
    let token: string | undefined
    do {
      const q: Record<string, string> = { 'list-type': '2', prefix }
      if (token) q['continuation-token'] = token
      const res = await this.send('GET', '', q)
      await this.expectOk(res, `LIST ${this.describe(prefix)}`)
      const xml = (await readAll(res)).toString('utf8')
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const f = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(m[1]!)?.[1] ?? ''
        out.push({ key: xmlText(f('Key')), size: Number(f('Size')), lastModified: Date.parse(f('LastModified')) })
      }
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml)
        ? xmlText(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] ?? '') || undefined
        : undefined
    } while (token)
    return out
  }

  close(): void {
    this.agent.destroy()
  }
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of s) parts.push(c as Buffer)
  return Buffer.concat(parts)
}
