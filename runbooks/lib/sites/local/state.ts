/**
 * The local site's state file (site.json): which node holds which role, the primary's last
 * known timeline, why a node is fenced. This module is its only writer (atomic rename, the
 * previous version kept as site.json.prev) and validates it on every read, like the policy:
 * every problem at once, with the file, the key and the fix.
 */
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { InputError, type Problem } from '../../../../core/errors.ts'
import { NODE_NAMES, type Layout, type NodeName } from './layout.ts'
import type { NodeRole, SiteState } from '../local-port.ts'

export type { NodeRole, SiteState }

export const NODE_ROLES: readonly NodeRole[] = ['primary', 'hot', 'warm', 'fenced']

/** A new site: node1 primary, node2 the hot standby, node3 the warm one. */
export function newSiteState(basePort: number, scale: number, now = new Date()): SiteState {
  return {
    version: 1,
    createdAt: now.toISOString(),
    basePort,
    scale,
    primary: 'node1',
    roles: { node1: 'primary', node2: 'hot', node3: 'warm' },
  }
}

export function siteExists(layout: Layout): boolean {
  return existsSync(layout.siteFile)
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Validate site.json's text; every problem at once (InputError, exit 2). */
export function parseState(text: string, file: string): SiteState {
  const fix = (what: string) =>
    `${what}; the previous good state is kept in ${file}.prev (copy it back), or rebuild with local.ts up --reset --yes`
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new InputError(`invalid site state in ${file}`, [
      { key: file, message: `is not JSON (${(e as Error).message})`, fix: fix('the file is damaged or truncated') },
    ])
  }
  const problems: Problem[] = []
  const bad = (key: string, value: unknown, message: string) =>
    problems.push({ key, value, message, fix: fix(`fix ${key}`) })
  if (!isObj(raw))
    throw new InputError(`invalid site state in ${file}`, [
      { key: file, value: raw, message: 'is not an object', fix: fix('the file is damaged') },
    ])
  if (raw.version !== 1) bad('version', raw.version, 'must be 1')
  if (typeof raw.createdAt !== 'string' || !Number.isFinite(Date.parse(raw.createdAt)))
    bad('createdAt', raw.createdAt, 'must be an ISO time')
  if (!Number.isInteger(raw.basePort) || (raw.basePort as number) < 1024 || (raw.basePort as number) > 32748)
    bad('basePort', raw.basePort, 'must be a whole number from 1024 to 32748')
  if (typeof raw.scale !== 'number' || raw.scale < 0.001 || raw.scale > 20)
    bad('scale', raw.scale, 'must be a number from 0.001 to 20')
  if (!(NODE_NAMES as readonly unknown[]).includes(raw.primary))
    bad('primary', raw.primary, `must be one of ${NODE_NAMES.join(', ')}`)
  const roles = isObj(raw.roles) ? raw.roles : {}
  if (!isObj(raw.roles)) bad('roles', raw.roles, `must map ${NODE_NAMES.join(', ')} to a role`)
  for (const n of NODE_NAMES)
    if (!(NODE_ROLES as readonly unknown[]).includes(roles[n]))
      bad(`roles.${n}`, roles[n], `must be one of ${NODE_ROLES.join(', ')}`)
  for (const k of Object.keys(roles))
    if (!(NODE_NAMES as readonly string[]).includes(k)) bad(`roles.${k}`, roles[k], 'is not a node of this site')
  // one primary, named by `primary`; or none while a failover is under way (the old one fenced, the new one not yet promoted)
  const primaries = NODE_NAMES.filter((n) => roles[n] === 'primary')
  const failingOver = primaries.length === 0 && roles[raw.primary as string] === 'fenced'
  if (!failingOver && (primaries.length !== 1 || primaries[0] !== raw.primary))
    bad(
      'roles',
      roles,
      `exactly one node must have the role primary, and it must be primary (${String(raw.primary)}); found ${primaries.join(', ') || 'none'}`,
    )
  if (raw.timeline !== undefined && (!Number.isInteger(raw.timeline) || (raw.timeline as number) < 1))
    bad('timeline', raw.timeline, 'must be a whole number >= 1')
  if (raw.fencedReason !== undefined && !isObj(raw.fencedReason))
    bad('fencedReason', raw.fencedReason, 'must map nodes to reasons')
  if (problems.length) throw new InputError(`invalid site state in ${file}`, problems)
  return raw as unknown as SiteState
}

export function readState(layout: Layout): SiteState {
  if (!siteExists(layout))
    throw new InputError('local site', [
      {
        key: '--stack local',
        value: layout.stateDir,
        message: 'no local site here',
        fix: 'run `npx zx runbooks/local.ts up` first',
      },
    ])
  return parseState(readFileSync(layout.siteFile, 'utf8'), layout.siteFile)
}

/** Write the state atomically; the version it replaces (valid, since it was read) is kept as site.json.prev. */
export function writeState(layout: Layout, state: SiteState): void {
  parseState(JSON.stringify(state), layout.siteFile) // never write a state we would refuse to read
  const tmp = `${layout.siteFile}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n')
  if (existsSync(layout.siteFile)) copyFileSync(layout.siteFile, `${layout.siteFile}.prev`)
  renameSync(tmp, layout.siteFile)
}

export function nodesWithRole(state: SiteState, role: NodeRole): NodeName[] {
  return NODE_NAMES.filter((n) => state.roles[n] === role)
}

/** One thing `up` (or `down`) changed, in words. */
export type Change = string
