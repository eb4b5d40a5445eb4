/**
 * The site's own places that no operator path may land in or around: its data directories, repo 1,
 * its secrets and its state (but for the one area a command writes to: the scratch area for
 * restores, the reports folder for reports). Paths are compared after symlinks are resolved, so a
 * link into repo 1 is repo 1.
 */
import { insideDataDirectory, realPath } from '../../adapters/cluster-files.ts'
import { NODE_NAMES, type Layout } from './layout.ts'

const within = (path: string, parent: string) => path === parent || path.startsWith(`${parent}/`)

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
