/**
 * The twin's Google Cloud Storage: the JSON API as pgBackRest 2.45 uses it
 * (pgbackrest/pgbackrest src/storage/gcs/storage.c, read.c, write.c): list with prefix and
 * delimiter (items name/size/updated, prefixes, nextPageToken), object info, a read with
 * alt=media and a Range, a one-shot upload (uploadType=media) and a resumable one
 * (uploadType=resumable: the x-guploader-uploadid header, chunks with Content-Range, 308 until
 * the last, then md5Hash and size), delete. Every request but a resumable chunk carries a
 * Bearer token (gcp-iam.ts) whose account must hold a role on the bucket that allows it. The
 * token endpoint takes a service-account key's signed JWT (the workstation's key file).
 * And Storage Transfer Service as the program's TransferJobs declare it: from the AWS bucket
 * (read over S3 at AWS's own name, as the transfer agent reads it) into the GCS bucket, objects
 * under the job's includePrefixes only, new or different only, nothing deleted on either side, on the job's schedule scaled down by
 * the twin's time scale; POST /twin/transfers runs every job now.
 * GCS is global: one server, in the WAN namespace (storage.googleapis.com in every hosts file).
 * usage: tsx gcs-api.ts CONFIG.json (as root; no secret in argv)
 */
import { createHash, createVerify, randomBytes } from 'node:crypto'
import {
  appendFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, join, relative } from 'node:path'
import { mayAccess, mintToken, verifyToken, type BucketBinding, type GcsAction } from './gcp-iam.ts'
import { ObjectStore } from '../../adapters/object-store.ts'

export interface GcsApiConfig {
  host: string
  port: number
  data: string
  cert: string
  key: string
  buckets: string[]
  bindings: BucketBinding[]
  /** members with every right: the operator (the project's owner) */
  owners: string[]
  /** the twin's token key (0600) */
  tokenSecret: string
  /** {email: public key PEM} of the service-account keys the twin issued */
  serviceKeys: string
  transfers: {
    name: string
    source: { bucket: string; region: string }
    /** objectConditions.includePrefixes: only these (none: everything) */
    prefixes: string[]
    sink: string
    everySeconds: number
  }[]
  /** the Storage Transfer agent's account (the project's, getTransferProjectServiceAccount) */
  transferAgent: string
  /** the AWS key the agent reads with (the reader role's stand-in) and the CA of AWS's stand-ins */
  awsCredentials: string
  awsCa: string
  timeScale: number
}

const c = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as GcsApiConfig
const secret = readFileSync(c.tokenSecret)
const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`)

const send = (res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(code, { 'content-type': 'application/json', ...headers })
  res.end(body === undefined ? '' : JSON.stringify(body))
}
const gcsError = (res: ServerResponse, code: number, message: string) =>
  send(res, code, { error: { code, message, errors: [{ message, reason: code === 404 ? 'notFound' : 'forbidden' }] } })

const body = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => resolve(Buffer.concat(parts)))
    req.on('error', reject)
  })

/** An object's file: names are paths inside the bucket's directory, never outside it. */
function objectFile(bucket: string, name: string): string | null {
  const root = join(c.data, bucket)
  const f = join(root, name)
  return name && !relative(root, f).startsWith('..') && !name.includes('\0') ? f : null
}

function walk(dir: string, base = ''): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? walk(join(dir, e.name), `${base}${e.name}/`)
      : e.name.startsWith('.upload-')
        ? []
        : [`${base}${e.name}`],
  )
}

const meta = (bucket: string, name: string) => {
  const s = statSync(objectFile(bucket, name)!)
  return { name, bucket, size: String(s.size), updated: s.mtime.toISOString() }
}

/** objects.list: everything under the prefix, or with delimiter '/' one level and its prefixes; 1,000 a page. */
function list(bucket: string, q: URLSearchParams) {
  const prefix = q.get('prefix') ?? ''
  const delimiter = q.get('delimiter')
  const names = walk(join(c.data, bucket))
    .filter((n) => n.startsWith(prefix))
    .sort()
  const items: string[] = []
  const prefixes = new Set<string>()
  for (const n of names) {
    const rest = n.slice(prefix.length)
    const cut = delimiter ? rest.indexOf(delimiter) : -1
    if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + 1))
    else items.push(n)
  }
  const start = Number(q.get('pageToken') ?? '0')
  const page = items.slice(start, start + 1000)
  return {
    kind: 'storage#objects',
    ...(start === 0 && prefixes.size ? { prefixes: [...prefixes] } : {}),
    ...(page.length ? { items: page.map((n) => meta(bucket, n)) } : {}),
    ...(start + 1000 < items.length ? { nextPageToken: String(start + 1000) } : {}),
  }
}

/** An object lands whole: bytes written beside it and renamed in, or a finished upload's file renamed in. */
function store(bucket: string, name: string, data: Buffer | string): { md5Hash: string; size: string } {
  const f = objectFile(bucket, name)!
  mkdirSync(dirname(f), { recursive: true })
  if (typeof data === 'string') renameSync(data, f)
  else {
    const tmp = `${f}.upload-${randomBytes(4).toString('hex')}`
    writeFileSync(tmp, data)
    renameSync(tmp, f)
  }
  const content = readFileSync(f)
  return { md5Hash: createHash('md5').update(content).digest('base64'), size: String(content.length) }
}

const uploads = new Map<string, { bucket: string; name: string; file: string }>()

/** The account of a request's Bearer token, or null. */
function caller(req: IncomingMessage) {
  const t = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
  return t ? verifyToken(secret, t) : null
}

async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = new URLSearchParams((await body(req)).toString('utf8'))
  const jwt = form.get('assertion') ?? ''
  const [h, p, s] = jwt.split('.')
  const claims = p ? (JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>) : {}
  const keys = JSON.parse(readFileSync(c.serviceKeys, 'utf8')) as Record<string, string>
  const pem = keys[String(claims.iss)]
  const ok =
    form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
    pem &&
    createVerify('RSA-SHA256')
      .update(`${h}.${p}`)
      .verify(pem, Buffer.from(s ?? '', 'base64url')) &&
    Number(claims.exp) > Date.now() / 1000
  if (!ok) return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' })
  const scope = String(claims.scope).endsWith('read_write') ? 'read_write' : 'read_only'
  const exp = Math.floor(Date.now() / 1000) + 3600
  send(res, 200, {
    access_token: mintToken(secret, { email: String(claims.iss), scope, exp }),
    expires_in: 3600,
    token_type: 'Bearer',
  })
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const u = new URL(req.url ?? '/', 'https://storage.googleapis.com')
  if (req.method === 'POST' && u.pathname === '/token') return token(req, res)
  if (req.method === 'POST' && u.pathname === '/twin/transfers') {
    await Promise.all(c.transfers.map(transfer))
    return send(res, 200, { ran: c.transfers.map((t) => t.name) })
  }
  const m = /^(\/upload)?\/storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(u.pathname)
  if (!m) return gcsError(res, 404, `Not Found: ${u.pathname}`)
  const [, upload, bucket, encoded] = m
  if (!c.buckets.includes(bucket!)) return gcsError(res, 404, 'The specified bucket does not exist.')
  const name = encoded ? decodeURIComponent(encoded) : (u.searchParams.get('name') ?? '')
  // a resumable upload's chunks: the upload id is the credential (write.c sends them with noAuth)
  const id = u.searchParams.get('upload_id')
  if (upload && req.method === 'PUT' && id) return chunk(req, res, id)
  const who = caller(req)
  if (!who) return gcsError(res, 401, 'Invalid Credentials')
  const action: GcsAction =
    req.method === 'DELETE' ? 'delete' : req.method === 'POST' ? 'create' : encoded ? 'get' : 'list'
  if (!mayAccess(c.bindings, c.owners, who, bucket!, action))
    return gcsError(
      res,
      403,
      `${who.email} does not have storage.objects.${action} access to the Google Cloud Storage bucket.`,
    )
  if (action === 'list') return send(res, 200, list(bucket!, u.searchParams))
  const f = name ? objectFile(bucket!, name) : null
  if (!f) return gcsError(res, 400, 'Invalid object name')
  if (action === 'delete') {
    if (!existsSync(f)) return gcsError(res, 404, 'No such object')
    rmSync(f)
    return send(res, 204, undefined)
  }
  if (action === 'create') {
    if (u.searchParams.get('uploadType') === 'resumable') {
      const uploadId = randomBytes(24).toString('base64url')
      uploads.set(uploadId, { bucket: bucket!, name, file: `${f}.upload-${uploadId.slice(0, 8)}` })
      return send(res, 200, undefined, { 'x-guploader-uploadid': uploadId })
    }
    return send(res, 200, { kind: 'storage#object', name, bucket, ...store(bucket!, name, await body(req)) })
  }
  if (!existsSync(f)) return gcsError(res, 404, 'No such object')
  if (u.searchParams.get('alt') !== 'media') return send(res, 200, meta(bucket!, name))
  return media(req, res, f)
}

/** alt=media, whole or a byte range (read.c asks ranges of a block-incremental backup's files). */
function media(req: IncomingMessage, res: ServerResponse, f: string): void {
  const size = statSync(f).size
  const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
  if (!r) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) })
    return void createReadStream(f).pipe(res)
  }
  const start = Number(r[1])
  const end = r[2] ? Math.min(Number(r[2]), size - 1) : size - 1
  res.writeHead(206, {
    'content-type': 'application/octet-stream',
    'content-length': String(Math.max(0, end - start + 1)),
    'content-range': `bytes ${start}-${end}/${size}`,
  })
  if (end < start) return void res.end()
  createReadStream(f, { start, end }).pipe(res)
}

/** A resumable upload's chunk: appended; 308 until Content-Range names the total, then the object lands. */
async function chunk(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const up = uploads.get(id)
  if (!up) return gcsError(res, 404, 'No such upload')
  const data = await body(req)
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(req.headers['content-range'] ?? '')
  if (!range) return gcsError(res, 400, 'Content-Range required')
  mkdirSync(dirname(up.file), { recursive: true })
  appendFileSync(up.file, data)
  if (range[3] === '*') return send(res, 308, undefined, { range: `bytes=0-${range[2]}` })
  uploads.delete(id)
  return send(res, 200, {
    kind: 'storage#object',
    name: up.name,
    bucket: up.bucket,
    ...store(up.bucket, up.name, up.file),
  })
}

/**
 * One Storage Transfer run: every object of the S3 source that the sink lacks or holds
 * different (size) is copied; nothing is deleted. The agent writes with its own account's rights.
 */
async function transfer(job: GcsApiConfig['transfers'][number]): Promise<void> {
  if (!mayAccess(c.bindings, c.owners, { email: c.transferAgent, scope: 'read_write' }, job.sink, 'create'))
    return void log(`transfer ${job.name}: the agent ${c.transferAgent} may not write into ${job.sink} (403)`)
  const key = JSON.parse(readFileSync(c.awsCredentials, 'utf8')) as { accessKeyId: string; secretAccessKey: string }
  const s3 = new ObjectStore({
    bucket: job.source.bucket,
    region: job.source.region,
    ca: readFileSync(c.awsCa, 'utf8'),
    ...key,
  })
  try {
    let copied = 0
    const listed = await Promise.all((job.prefixes.length ? job.prefixes : ['']).map((p) => s3.list(p)))
    for (const o of listed.flat()) {
      const f = objectFile(job.sink, o.key)
      if (!f || (existsSync(f) && statSync(f).size === o.size)) continue
      const res = await s3.get(o.key)
      store(job.sink, o.key, await body(res))
      copied++
    }
    if (copied) log(`transfer ${job.name}: ${copied} object(s) into ${job.sink}`)
  } catch (e) {
    log(`transfer ${job.name} failed: ${(e as Error).message}`)
  } finally {
    s3.close()
  }
}

for (const b of c.buckets) mkdirSync(join(c.data, b), { recursive: true })
const server = createServer({ cert: readFileSync(c.cert), key: readFileSync(c.key) }, (req, res) => {
  handle(req, res).catch((e: Error) => void gcsError(res, 500, e.message))
}).listen(c.port, c.host)
const timers = c.transfers.map((t) =>
  setInterval(() => void transfer(t), Math.max(1000, (t.everySeconds * 1000) / c.timeScale)),
)
const stop = () => {
  timers.forEach(clearInterval)
  server.close(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
