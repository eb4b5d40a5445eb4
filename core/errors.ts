/**
 * Errors the operator can act on. `InputError` is bad input or a refusal (exit 2):
 * every problem names the input, the bad value, the valid range and the fix.
 */
export interface Problem {
  key: string
  value?: unknown
  message: string
  fix?: string
}

export function formatProblem(p: Problem): string {
  const shown = p.value === undefined ? '' : ` (got ${JSON.stringify(p.value)})`
  return `${p.key}${shown}: ${p.message}${p.fix ? `; fix: ${p.fix}` : ''}`
}

export class InputError extends Error {
  readonly exitCode = 2
  constructor(
    readonly what: string,
    readonly problems: Problem[],
  ) {
    super(
      problems.length === 1
        ? `${what}: ${formatProblem(problems[0]!)}`
        : `${what}: ${problems.length} problems\n${problems.map((p) => `  - ${formatProblem(p)}`).join('\n')}`,
    )
    this.name = 'InputError'
  }
}

export function inputError(key: string, value: unknown, message: string, fix?: string): InputError {
  return new InputError('bad input', [{ key, value, message, fix }])
}

/** A refusal by a decision (failover guards, restore range ...): exit 2, nothing changed. */
export class Refusal extends Error {
  readonly exitCode = 2
  constructor(message: string) {
    super(message)
    this.name = 'Refusal'
  }
}

/** An external command failed: report the command, exit code and stderr (never a stack). */
export class CommandError extends Error {
  readonly exitCode = 1
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`command failed (exit ${code}): ${command}\n${stderr.trim().split('\n').slice(-15).join('\n')}`)
    this.name = 'CommandError'
  }
}

/** The first line of an error's message (a command's stderr can follow on the next lines). */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!
}
