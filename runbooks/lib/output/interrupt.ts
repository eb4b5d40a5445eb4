/**
 * Ctrl-C and SIGTERM stop a runbook at its next safe point, never in the middle of a step: the
 * signal sets a flag; every audited step and every wait checks it and throws Interrupted, so the
 * procedure unwinds through its own clean-up; the runbook then says which steps were done, which
 * one was stopped, and how to finish. A second signal ends the process at once.
 *
 * Some stretches have no safe point inside them: once a failover has fenced the endpoint, the
 * safe place to stop is after traffic reaches the new primary, not before. Such a stretch runs
 * `shielded`: a signal during it is honoured when it ends.
 */
export const interruption = {
  signal: undefined as NodeJS.Signals | undefined,
  /** what is running that must not stop halfway, if anything */
  shield: undefined as string | undefined,
  /** fault-suite hooks: a real SIGINT (LABDOJO_FAULT_SIGNAL_AT) or SIGKILL (LABDOJO_FAULT_KILL_AT) to this process as the named step starts */
  raiseAt: process.env.LABDOJO_FAULT_SIGNAL_AT,
  killAt: process.env.LABDOJO_FAULT_KILL_AT,
  /** and a plain failure of the named step (LABDOJO_FAULT_FAIL_AT), as a crashed command would give */
  failAt: process.env.LABDOJO_FAULT_FAIL_AT,
}

/** What this run has done so far (the audited steps), for the operator when it stops early. */
export const progress = {
  done: [] as string[],
  current: undefined as string | undefined,
  /** the step a signal stopped (before it started, or inside it at a wait) */
  stoppedIn: undefined as string | undefined,
  /** the innermost step that failed since the last step began (an error, not a signal) */
  failedIn: undefined as string | undefined,
  /** how to finish from where the procedure now is, when that differs from the runbook's usual advice */
  resume: undefined as string | undefined,
}

export class Interrupted extends Error {
  readonly exitCode = 130
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`)
    this.name = 'Interrupted'
  }
}

/** Throw at a safe point when a signal asked the runbook to stop (never inside a shielded stretch). */
export function checkInterrupted(): void {
  if (interruption.signal && !interruption.shield) throw new Interrupted(interruption.signal)
}

/** True when a signal is waiting for the next safe point. */
export function stopRequested(): boolean {
  return !!interruption.signal && !interruption.shield
}

/** Run a stretch that must not stop halfway; a signal during it takes effect once it ends. */
export async function shielded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const outer = interruption.shield
  interruption.shield = what
  try {
    return await fn()
  } finally {
    interruption.shield = outer
  }
}

/** The fault suite's hook: a real SIGINT to this process as the named step starts. */
export function raiseIfFaultAt(step: string): void {
  if (interruption.killAt && step.startsWith(interruption.killAt)) process.kill(process.pid, 'SIGKILL')
  if (interruption.failAt && step.startsWith(interruption.failAt))
    throw new Error(`FAULT INJECTION (LABDOJO_FAULT_FAIL_AT): "${step}" failed`)
  if (interruption.raiseAt && step.startsWith(interruption.raiseAt) && !interruption.signal)
    process.kill(process.pid, 'SIGINT')
}

let installed = false

export function installInterruptHandlers(
  onFirst: (signal: NodeJS.Signals) => void,
  onSecond: (signal: NodeJS.Signals) => void,
): void {
  if (installed) return
  installed = true
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (interruption.signal) {
        onSecond(signal)
        process.exit(130) // the second signal: now
      }
      interruption.signal = signal
      onFirst(signal)
    })
}
