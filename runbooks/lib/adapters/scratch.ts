/**
 * Scratch directories a run makes and must not leave behind. The owner removes its directory in
 * its `finally`; should the process end before that `finally` runs (process.exit once a signal has
 * been honoured, an exporter stopping mid-catalog, an uncaught error), an exit hook removes what
 * is still there. Only SIGKILL leaves one behind.
 */
import { mkdtempSync, rmSync } from 'node:fs'

const open = new Set<string>()
let hooked = false

/** A fresh directory `prefix` + 6 random characters, removed at the latest when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(prefix)
  open.add(dir)
  if (!hooked) {
    hooked = true
    process.on('exit', () => {
      for (const d of open) rmSync(d, { recursive: true, force: true })
    })
  }
  return dir
}

/** Remove a scratch directory now (its owner is done with it). */
export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  open.delete(dir)
}
