/**
 * The audit log: every runbook action appended as one JSON line (who, when, what, result).
 * Everything written passes through `redact`. Each line carries the SHA-256 of the line before
 * it (`prev`), so an edited, removed or reordered line breaks the chain; `verifyAuditChain`
 * finds where (status reports it).
 */
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { dirname } from 'node:path'
import { hostname, userInfo } from 'node:os'
import { redactDeep } from './redact.ts'
import { checkInterrupted, Interrupted, progress, raiseIfFaultAt, shielded, stopRequested } from './interrupt.ts'
import { firstLine } from '../../../core/errors.ts'

export interface AuditEntry {
  ts: string
  who: string
  runbook: string
  stack: string
  action: string
  result: 'start' | 'ok' | 'failed' | 'refused' | 'skipped' | 'dry-run' | 'interrupted'
  details?: Record<string, unknown>
  /** SHA-256 of the previous line ('' for the first) */
  prev?: string
}

const sha256 = (line: string) => createHash('sha256').update(line).digest('hex')

/** The last line of a file (read from its tail), '' when there is none. */
function lastLine(file: string): string {
  if (!existsSync(file)) return ''
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const length = Math.min(size, 1024 * 1024)
    const buf = Buffer.alloc(length)
    readSync(fd, buf, 0, length, size - length)
    const lines = buf.toString('utf8').split('\n').filter(Boolean)
    return lines.at(-1) ?? ''
  } finally {
    closeSync(fd)
  }
}

/** Append one JSON line carrying the SHA-256 of the line before it (the audit log's and the evidence ledger's chain). */
export function appendChained(file: string, record: object, mode: number): void {
  appendFileSync(file, chainedLine(lastLine(file), record) + '\n', { mode })
}

/** The line that follows `previous` ('' for the first) in a hash chain. */
export const chainedLine = (previous: string, record: object): string =>
  JSON.stringify({ ...record, prev: previous ? sha256(previous) : '' })

/** Where the chain breaks, if anywhere. Lines written before the chain existed (no `prev`) are counted apart. */
export function verifyAuditChain(file: string): ChainCheck {
  if (!existsSync(file)) return { ok: true, entries: 0, unchained: 0 }
  return verifyChainLines(readFileSync(file, 'utf8').split('\n').filter(Boolean))
}

export interface ChainCheck {
  ok: boolean
  entries: number
  unchained: number
  problem?: string
}

/** The same check over lines held in memory (a ledger kept as objects). */
export function verifyChainLines(lines: string[]): ChainCheck {
  let unchained = 0
  let chained = false
  for (const [i, line] of lines.entries()) {
    let entry: AuditEntry
    try {
      entry = JSON.parse(line) as AuditEntry
    } catch {
      return { ok: false, entries: lines.length, unchained, problem: `line ${i + 1} is not JSON` }
    }
    if (entry.prev === undefined) {
      if (chained)
        return {
          ok: false,
          entries: lines.length,
          unchained,
          problem: `line ${i + 1} has no hash link (removed or forged)`,
        }
      unchained++
      continue
    }
    chained = true
    const expected = i === 0 ? '' : sha256(lines[i - 1]!)
    if (entry.prev !== expected)
      return {
        ok: false,
        entries: lines.length,
        unchained,
        problem: `line ${i + 1} does not follow line ${i}: an entry was altered, removed or reordered there`,
      }
  }
  return { ok: true, entries: lines.length, unchained }
}

/** What anchors the log's head outside the file once a runbook is done (the local site's offsite store). */
let anchorHook: (() => Promise<unknown>) | undefined

export function anchorAuditWith(fn: () => Promise<unknown>): void {
  anchorHook = fn
}

/** Anchor the head now; a failure is said, never fatal (the log itself is written). */
export async function anchorAudit(warn: (msg: string) => void): Promise<void> {
  if (!anchorHook) return
  try {
    await anchorHook()
  } catch (e) {
    warn(`the audit log's head was not anchored offsite (${firstLine(e)})`)
  }
}

export class AuditLog {
  constructor(
    readonly file: string,
    readonly runbook: string,
    readonly stack: string,
  ) {}

  static who(): string {
    const sudo = process.env.SUDO_USER ? ` (sudo by ${process.env.SUDO_USER})` : ''
    return `${userInfo().username}@${hostname()}${sudo}`
  }

  record(action: string, result: AuditEntry['result'], details?: Record<string, unknown>): void {
    const entry: AuditEntry = {
      ts: new Date().toISOString(),
      who: AuditLog.who(),
      runbook: this.runbook,
      stack: this.stack,
      action,
      result,
      details,
    }
    mkdirSync(dirname(this.file), { recursive: true })
    appendChained(this.file, redactDeep(entry), 0o600)
  }

  /** Run one step, recording its start and its outcome. */
  async step<T>(action: string, fn: () => Promise<T>, details?: Record<string, unknown>): Promise<T> {
    // a signal stops the runbook between steps, never inside one
    if (stopRequested()) {
      this.record(action, 'interrupted', { ...details, error: 'not started: stopped before this step' })
      progress.stoppedIn ??= `${action} (not started)`
    }
    checkInterrupted()
    return this.run(action, fn, details)
  }

  /** A clean-up step (undo a fence, roll back): it runs even when a signal is stopping the runbook. */
  cleanup<T>(action: string, fn: () => Promise<T>, details?: Record<string, unknown>): Promise<T> {
    return shielded(action, () => this.run(action, fn, details))
  }

  private async run<T>(action: string, fn: () => Promise<T>, details?: Record<string, unknown>): Promise<T> {
    raiseIfFaultAt(action)
    this.record(action, 'start', details)
    const outer = progress.current
    progress.current = action
    progress.failedIn = undefined // a failure some earlier step's caller handled is not what stops the run
    try {
      const out = await fn()
      this.record(action, 'ok', details)
      progress.done.push(action)
      return out
    } catch (e) {
      const exitCode = (e as { exitCode?: number }).exitCode
      const result = exitCode === 2 ? 'refused' : e instanceof Interrupted ? 'interrupted' : 'failed'
      if (result === 'interrupted') progress.stoppedIn ??= action
      if (result === 'failed') progress.failedIn ??= action
      this.record(action, result, { ...details, error: (e as Error).message })
      throw e
    } finally {
      progress.current = outer
    }
  }
}
