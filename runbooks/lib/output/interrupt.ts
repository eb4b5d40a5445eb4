/**
 * Ctrl-C and SIGTERM stop a runbook at its next safe point, never in the middle of a step: the
 * signal sets a flag; every audited step and every wait checks it and throws Interrupted, so the
 * procedure unwinds through its own clean-up; the runbook then says which steps were done, which
 * one was stopped, and how to finish. A second signal ends the process at once.
 */
export const interruption = { signal: undefined as NodeJS.Signals | undefined }

/** What this run has done so far (the audited steps), for the operator when it stops early. */
export const progress = { done: [] as string[], current: undefined as string | undefined }

export class Interrupted extends Error {
  readonly exitCode = 130
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`)
    this.name = 'Interrupted'
  }
}

/** Throw at a safe point when a signal asked the runbook to stop. */
export function checkInterrupted(): void {
  if (interruption.signal) throw new Interrupted(interruption.signal)
}

let installed = false

export function installInterruptHandlers(onFirst: (signal: NodeJS.Signals) => void): void {
  if (installed) return
  installed = true
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (interruption.signal) process.exit(130) // the second signal: now
      interruption.signal = signal
      onFirst(signal)
    })
}
