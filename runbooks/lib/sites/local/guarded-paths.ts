/**
 * The site's own places that no operator path may land in or around: its data directories, repo 1,
 * its secrets and its state (but for the one area a command writes to: the scratch area for
 * restores, the reports folder for reports). Paths are compared after symlinks are resolved, so a
 * link into repo 1 is repo 1.
 */
import { existsSync, realpathSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { NODE_NAMES, type Layout } from './layout.ts'

/** The path with every symlink of its existing part resolved (the rest, not yet made, appended as is). */
export function realPath(path: string): string {
  const abs = resolve(path)
  if (existsSync(abs)) return realpathSync(abs)
  const parent = dirname(abs)
  return parent === abs ? abs : join(realPath(parent), basename(abs))
}

const within = (path: string, parent: string) => path === parent || path.startsWith(`${parent}/`)

/** A directory inside a PostgreSQL data directory (any, the site's or not), if it is. */
export function insideDataDirectory(path: string): string | undefined {
  for (let p = dirname(realPath(path)); p !== dirname(p); p = dirname(p))
    if (existsSync(join(p, 'PG_VERSION'))) return `is inside the PostgreSQL data directory ${p}`
  return undefined
}

/**
 * Why `path` may not be written: it is, holds or lies inside a data directory, repo 1, the secrets
 * or the site's state, `area` (a folder of the state directory) excepted. Undefined when it may.
 */
export function guardedPathClash(
  layout: Layout,
  path: string,
  area: [dir: string, name: string],
  o: { areaItself?: boolean; also?: [string, string][] } = {},
): string | undefined {
  const dir = realPath(path)
  const inData = insideDataDirectory(dir)
  if (inData) return inData
  const guarded: [string, string][] = [
    ...NODE_NAMES.map((n): [string, string] => [layout.node(n).data, `${n}'s data directory`]),
    [layout.pgbackrest.repo1, 'repo1'],
    [layout.secrets.dir, "the site's secrets"],
    ...(o.also ?? []),
  ]
  for (const [raw, what] of guarded) {
    const p = realPath(raw)
    if (within(dir, p)) return `is ${dir === p ? '' : 'inside '}${what} (${raw})`
    if (within(p, dir)) return `contains ${what} (${raw})`
  }
  const state = realPath(layout.stateDir)
  const allowed = realPath(area[0])
  if (within(state, dir)) return `contains the site's state (${layout.stateDir})`
  if (within(dir, state) && !(within(dir, allowed) && (dir !== allowed || o.areaItself)))
    return `is inside the site's state (${layout.stateDir}); only ${area[1]} (${area[0]}${o.areaItself ? '' : '/<name>'}) takes this`
  return undefined
}
