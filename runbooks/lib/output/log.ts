/**
 * What a runbook tells its operator: progress and warnings on stderr (quiet under --json),
 * machine-readable reports on stdout. Everything passes through the redactor.
 */
import { redact } from './redact.ts'

export const log = {
  quiet: false,
  info(msg: string) {
    if (!this.quiet) process.stderr.write(redact(msg) + '\n')
  },
  /** a detail of the step in progress, indented under it */
  step(msg: string) {
    this.info(`  ${msg}`)
  },
  warn(msg: string) {
    process.stderr.write(redact(`warning: ${msg}`) + '\n')
  },
  /** a step's progress on a terminal; silent in --json mode or when not a TTY */
  progress(msg: string) {
    if (!this.quiet && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${redact(msg)}`)
  },
  progressDone() {
    if (!this.quiet && process.stderr.isTTY) process.stderr.write('\r\x1b[K')
  },
}

export function printJson(value: unknown): void {
  process.stdout.write(redact(JSON.stringify(value, null, 2)) + '\n')
}
