/**
 * libeatmydata (Debian's `eatmydata`): fsync, fdatasync, sync_file_range and O_SYNC made no-ops
 * for a process and its children, through LD_PRELOAD. For what is thrown away once read and
 * nothing else: a proof's scratch restore (pgBackRest 2.45 has no option not to sync a restore).
 */
import { existsSync } from 'node:fs'

const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']

let found: string | null | undefined

/** The library's path, or null where it is not installed (scripts/setup.sh installs it). */
export function eatmydataLibrary(): string | null {
  found ??= LIBRARY_DIRS.map((d) => `${d}/libeatmydata.so.1`).find((p) => existsSync(p)) ?? null
  return found
}

/**
 * The environment under which a process and its children do not sync (the library ahead of
 * whatever is preloaded already): empty without the library.
 */
export function unsyncedEnv(preloaded = process.env.LD_PRELOAD): Record<string, string> {
  const lib = eatmydataLibrary()
  if (!lib) return {}
  return { LD_PRELOAD: preloaded ? `${lib}:${preloaded}` : lib }
}
