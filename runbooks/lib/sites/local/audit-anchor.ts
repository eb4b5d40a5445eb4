/**
 * The audit log's head, anchored outside the file: a runbook's last act is to put the number of
 * lines and the SHA-256 of the last one into the offsite store, one object per anchor, never
 * rewritten. The hash chain finds an edit in the middle; only an anchor finds the tail edited or
 * cut off (a chain recomputed from the edit on holds by itself).
 */
import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { Readable } from 'node:stream'
import { firstLine } from '../../../../core/errors.ts'
import { ledgerLines } from '../../output/evidence.ts'
import { pidAlive, readPid } from '../../adapters/process.ts'
import type { Layout } from './layout.ts'
import { offsiteDown, offsiteStore } from './offsite-store.ts'

export interface AuditAnchor {
  entries: number
  head: string
}

export interface AnchorCheck {
  ok: boolean
  /** anchors found offsite; null when the store could not be read */
  anchors: number | null
  problem?: string
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const prefixFor = (file: string) => `audit-anchors/${sha256(resolve(file)).slice(0, 12)}/`

/** Where the log departs from its anchors (pure): a line count below one, or a line that is not the anchored head. */
export function anchorProblem(lines: string[], anchors: AuditAnchor[]): string | undefined {
  for (const a of [...anchors].sort((x, y) => y.entries - x.entries)) {
    if (lines.length < a.entries)
      return `the log has ${lines.length} line(s), but ${a.entries} were anchored offsite: line(s) ${lines.length + 1}-${a.entries} were removed`
    if (!sha256(lines[a.entries - 1]!).startsWith(a.head))
      return `line ${a.entries} is not the line anchored offsite: it was altered (or the log rewritten from there on)`
  }
  return undefined
}

const parseKey = (prefix: string, key: string): AuditAnchor | undefined => {
  const m = /^(\d{9})-([0-9a-f]{32})\.json$/.exec(key.slice(prefix.length))
  return m ? { entries: Number(m[1]), head: m[2]! } : undefined
}

/**
 * Anchor the log's current head; a no-op when the site's offsite store is not running (the site
 * is down). A log that already departs from its anchors is not anchored again (that would only
 * add a second, contradicting anchor): this throws, naming where it departs. Throws too when the
 * store runs but refuses or fails.
 */
export async function anchorAuditHead(layout: Layout, file: string): Promise<string | undefined> {
  if (!pidAlive(readPid(layout.s3.pid), 's3rver')) return undefined
  const down = await offsiteDown(layout)
  if (down) throw new Error(down)
  const lines = ledgerLines(file)
  if (!lines.length) return undefined
  const prefix = prefixFor(file)
  const key = `${prefix}${String(lines.length).padStart(9, '0')}-${sha256(lines.at(-1)!).slice(0, 32)}.json`
  const body = Buffer.from(JSON.stringify({ file: resolve(file), entries: lines.length, at: new Date().toISOString() }))
  const store = offsiteStore(layout)
  try {
    const anchors = (await store.list(prefix)).map((o) => parseKey(prefix, o.key)).filter((a) => a !== undefined)
    const problem = anchorProblem(lines, anchors)
    if (problem) throw new Error(`${file} departs from its offsite anchors: ${problem}`)
    await store.put(key, Readable.from([body]), body.length, createHash('md5').update(body).digest('base64'))
    return key
  } finally {
    store.close()
  }
}

/** The log against every anchor offsite. */
export async function checkAuditAnchors(layout: Layout, file: string): Promise<AnchorCheck> {
  const prefix = prefixFor(file)
  const down = await offsiteDown(layout)
  if (down) return { ok: true, anchors: null, problem: `its offsite anchors could not be read (${down})` }
  const store = offsiteStore(layout)
  let anchors: AuditAnchor[]
  try {
    anchors = (await store.list(prefix)).map((o) => parseKey(prefix, o.key)).filter((a) => a !== undefined)
  } catch (e) {
    return { ok: true, anchors: null, problem: `its offsite anchors could not be read (${firstLine(e)})` }
  } finally {
    store.close()
  }
  const problem = anchorProblem(ledgerLines(file), anchors)
  return { ok: !problem, anchors: anchors.length, problem }
}
