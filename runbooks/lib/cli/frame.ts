/**
 * What every runbook entry shares: flag parsing (unknown flags are bad input), --help,
 * confirmation of destructive steps, the audit log, and the exit-code contract:
 * 0 done, 1 failed, 2 bad input or refused.
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { InputError, inputError } from '../../../core/errors.ts'
import { redact } from '../output/redact.ts'
import { log } from '../output/log.ts'
import { installInterruptHandlers, interruption, Interrupted, progress } from '../output/interrupt.ts'
import { anchorAudit } from '../output/audit.ts'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '')

export interface FlagSpec {
  type: 'string' | 'boolean'
  short?: string
  default?: string | boolean
  help: string
  multiple?: boolean
}

export interface RunbookSpec<F extends Record<string, FlagSpec>> {
  name: string
  summary: string
  usage: string
  flags: F
  /** interrupted midway: how to finish (the command that completes or safely repeats the work) */
  resume?: string
  /** what positionals are allowed, for the error message; none when absent */
  positionals?: readonly string[]
}

type Values<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K]['type'] extends 'boolean'
    ? boolean
    : F[K]['multiple'] extends true
      ? string[] | undefined
      : string | undefined
}

export interface Parsed<F extends Record<string, FlagSpec>> {
  flags: Values<F>
  positionals: string[]
}

/** The arguments after the script, whether started by `zx file.ts`, `tsx file.ts` or node. */
export function scriptArgs(entryUrl: string, argv = process.argv): string[] {
  const entry = fileURLToPath(entryUrl)
  const i = argv.findIndex((a, idx) => idx > 0 && resolve(a) === entry)
  return argv.slice(i >= 0 ? i + 1 : 2)
}

/** A flag given twice is ambiguous (which one did the operator mean?): refused, unless it takes a list. */
function refuseRepeats<F extends Record<string, FlagSpec>>(
  spec: RunbookSpec<F>,
  tokens: { kind: string; name?: string; value?: string }[],
): void {
  const seen = new Map<string, string | undefined>()
  for (const t of tokens) {
    if (t.kind !== 'option' || !t.name || spec.flags[t.name]?.multiple) continue
    if (seen.has(t.name)) {
      const values = [seen.get(t.name), t.value].filter((v) => v !== undefined).join(' and ')
      throw inputError(`--${t.name}`, values || 'twice', 'is given more than once', `pass --${t.name} once`)
    }
    seen.set(t.name, t.value)
  }
}

/**
 * A value flag followed by a negative number (`--port -5`) is read as that flag's value (the
 * parser would call it ambiguous), so the flag's own check names its valid range.
 */
function joinNegativeValues<F extends Record<string, FlagSpec>>(spec: RunbookSpec<F>, args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const name = /^--([\w-]+)$/.exec(args[i]!)?.[1]
    const next = args[i + 1]
    if (name && spec.flags[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`)
      i++
    } else out.push(args[i]!)
  }
  return out
}

export function parseFlags<F extends Record<string, FlagSpec>>(spec: RunbookSpec<F>, raw: string[]): Parsed<F> {
  const args = joinNegativeValues(spec, raw)
  const options = Object.fromEntries(
    Object.entries(spec.flags).map(([k, f]) => [
      k,
      Object.fromEntries(
        Object.entries({ type: f.type, short: f.short, multiple: f.multiple, default: f.default }).filter(
          ([, v]) => v !== undefined,
        ),
      ),
    ]),
  ) as unknown as NonNullable<Parameters<typeof parseArgs>[0]>['options']
  try {
    const { values, positionals, tokens } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
      tokens: true,
    })
    refuseRepeats(spec, tokens)
    if (positionals.length && !spec.positionals)
      throw inputError(
        'argument',
        positionals[0],
        `${spec.name} takes no positional arguments`,
        `see ${spec.name} --help`,
      )
    // one action word at most, and one of the runbook's own: a stray word is a typo, never ignored
    if (spec.positionals && positionals.length > 1)
      throw inputError(
        'argument',
        positionals.slice(1).join(' '),
        `${spec.name} takes one action (${spec.positionals.join(', ')}), not more words`,
        `drop "${positionals.slice(1).join(' ')}"; flags start with --`,
      )
    if (spec.positionals && positionals.length && !spec.positionals.includes(positionals[0]!))
      throw inputError(
        'action',
        positionals[0],
        `must be one of ${spec.positionals.join(', ')}`,
        `e.g. ${spec.name} ${spec.positionals[0]}`,
      )
    return { flags: values as Values<F>, positionals }
  } catch (e) {
    if (e instanceof InputError) throw e
    const msg = (e as Error).message
    const valid = Object.keys(spec.flags)
      .map((f) => `--${f}`)
      .join(', ')
    throw inputError('flags', args.join(' '), msg.replace(/\. To specify.*$/s, ''), `valid flags: ${valid}; see --help`)
  }
}

export function helpText<F extends Record<string, FlagSpec>>(spec: RunbookSpec<F>): string {
  const rows = Object.entries(spec.flags).map(([k, f]) => {
    const left = `  ${f.short ? `-${f.short}, ` : ''}--${k}${f.type === 'string' ? ' <value>' : ''}`
    return `${left.padEnd(34)} ${f.help}${f.default !== undefined && f.default !== false ? ` (default: ${f.default})` : ''}`
  })
  return `${spec.name}: ${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${rows.join('\n')}\n`
}

export const HELP_FLAG = { help: { type: 'boolean', short: 'h', help: 'show this help' } } as const satisfies Record<
  string,
  FlagSpec
>

/** Ask before a destructive step: --yes answers for the operator; no terminal and no --yes refuses. */
export async function confirm(question: string, yes: boolean): Promise<void> {
  if (yes) return
  if (!process.stdin.isTTY)
    throw inputError(
      '--yes',
      false,
      `refusing without confirmation: ${question}`,
      'run it on a terminal to answer, or pass --yes',
    )
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  const answer = (await rl.question(`${question} Type "yes" to continue: `)).trim()
  rl.close()
  if (answer !== 'yes')
    throw inputError('confirmation', answer, 'not confirmed', 'answer "yes" to proceed; nothing was changed')
}

/**
 * Run a runbook body with the exit-code contract. Errors with `exitCode` 2 (bad input,
 * refusal) and command failures print one clear message, never a stack trace.
 */
export async function main(body: () => Promise<number | void>, resume?: string): Promise<void> {
  try {
    await settle(body, resume)
  } finally {
    await anchorAudit((m) => log.warn(m))
  }
}

async function settle(body: () => Promise<number | void>, resume?: string): Promise<void> {
  let code: number
  try {
    code = (await body()) ?? 0
  } catch (e) {
    const err = e as Error & { exitCode?: number }
    if (interruption.signal) {
      // the procedure unwound through its own clean-up, which may have wrapped the Interrupted error
      process.stderr.write(redact(interruptedReport(interruption.signal, err, resume)) + '\n')
      process.exitCode = 130
      return
    }
    code = err.exitCode === 2 ? 2 : 1
    const label = code === 2 ? (err.name === 'Refusal' ? 'refused' : 'error') : 'failed'
    process.stderr.write(redact(`${label}: ${err.message}`) + '\n')
    // a step failed after others changed things: say what is done and how to finish
    if (code === 1 && progress.done.length) process.stderr.write(redact(failedReport(resume)) + '\n')
    if (process.env.LABDOJO_DEBUG && err.stack) process.stderr.write(redact(err.stack) + '\n')
  }
  process.exitCode = code
}

/** Exactly what an interrupted run did, what it stopped, and how to finish. */
function interruptedReport(signal: NodeJS.Signals, e: Error, resume?: string): string {
  const done = progress.done.length ? progress.done.join('; ') : 'nothing'
  const cleanUp = e instanceof Interrupted ? '' : `\n  ${e.message.split('\n').slice(1).join('\n  ') || e.message}`
  return [
    `interrupted by ${signal} at a safe point: clean-up ran, no step was left half done.${cleanUp}`,
    `  steps done: ${done}`,
    `  stopped: ${progress.stoppedIn ?? progress.current ?? 'before the next step'}`,
    `  to finish: ${progress.resume ?? resume ?? 're-run the same command: every step checks before it acts'}`,
  ].join('\n')
}

function failedReport(resume?: string): string {
  return [
    `  steps done: ${progress.done.join('; ')}`,
    `  failed in: ${progress.failedIn ?? 'the step after them'}`,
    `  to finish: ${progress.resume ?? resume ?? 'fix the cause above, then re-run the same command: every step checks before it acts'}`,
  ].join('\n')
}

/** The second signal: no clean-up ran; say where it stopped and where to look. */
function stoppedAtOnceReport(signal: NodeJS.Signals, resume?: string): string {
  return [
    `stopped at once by a second ${signal}: no clean-up ran${progress.current ? `, "${progress.current}" was cut short` : ''}.`,
    `  steps done: ${progress.done.length ? progress.done.join('; ') : 'nothing'}`,
    `  now: npx zx runbooks/local.ts status shows what runs and where the endpoint routes`,
    `  to finish: ${progress.resume ?? resume ?? 're-run the same command: every step checks before it acts'}`,
  ].join('\n')
}

/**
 * The shape of every runbook entry: parse flags (bad ones exit 2), answer --help, keep quiet
 * under --json, then run the body under the exit-code contract.
 */
export async function runbook<F extends Record<string, FlagSpec>>(
  spec: RunbookSpec<F>,
  entryUrl: string,
  body: (p: Parsed<F>) => Promise<number | void>,
): Promise<void> {
  installInterruptHandlers(
    (signal) =>
      log.warn(
        interruption.shield
          ? `${signal} received during "${interruption.shield}", which must not stop halfway: finishing it, then stopping (send it again to stop at once, as things are)`
          : `${signal} received: stopping at the next safe point (send it again to stop at once, as things are)`,
      ),
    (signal) => process.stderr.write(redact(stoppedAtOnceReport(signal, spec.resume)) + '\n'),
  )
  await main(async () => {
    const parsed = parseFlags(spec, scriptArgs(entryUrl))
    const f = parsed.flags as Record<string, unknown>
    if (f.help) return void process.stdout.write(helpText(spec))
    log.quiet = !!f.json
    return body(parsed)
  }, spec.resume)
}
