/**
 * The audit log: every runbook action appended as one JSON line (who, when, what, result).
 * Everything written passes through `redact`.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { hostname, userInfo } from 'node:os'
import { redactDeep } from './redact.ts'
import { checkInterrupted, Interrupted, interruption, progress } from './interrupt.ts'

export interface AuditEntry {
  ts: string
  who: string
  runbook: string
  stack: string
  action: string
  result: 'start' | 'ok' | 'failed' | 'refused' | 'skipped' | 'dry-run' | 'interrupted'
  details?: Record<string, unknown>
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
    appendFileSync(this.file, JSON.stringify(redactDeep(entry)) + '\n', { mode: 0o600 })
  }

  /** Run one step, recording its start and its outcome. */
  async step<T>(action: string, fn: () => Promise<T>, details?: Record<string, unknown>): Promise<T> {
    // a signal stops the runbook between steps, never inside one
    if (interruption.signal)
      this.record(action, 'interrupted', { ...details, error: 'not started: stopped before this step' })
    checkInterrupted()
    this.record(action, 'start', details)
    const outer = progress.current
    progress.current = action
    try {
      const out = await fn()
      this.record(action, 'ok', details)
      progress.done.push(action)
      return out
    } catch (e) {
      const exitCode = (e as { exitCode?: number }).exitCode
      const result = exitCode === 2 ? 'refused' : e instanceof Interrupted ? 'interrupted' : 'failed'
      this.record(action, result, { ...details, error: (e as Error).message })
      throw e
    } finally {
      progress.current = outer
    }
  }
}
