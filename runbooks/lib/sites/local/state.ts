/**
 * The local site's state file (site.json): which node holds which role, the primary's last
 * known timeline, why a node is fenced. This module is its only writer (atomic rename).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { InputError } from '../../../../core/errors.ts'
import { NODE_NAMES, type Layout, type NodeName } from './layout.ts'

export type NodeRole = 'primary' | 'hot' | 'warm' | 'fenced'

export interface SiteState {
  version: 1
  createdAt: string
  basePort: number
  scale: number
  primary: NodeName
  roles: Record<NodeName, NodeRole>
  /** the primary's timeline when last seen (a dead primary cannot be asked) */
  timeline?: number
  /** why a node is fenced, for the operator */
  fencedReason?: Partial<Record<NodeName, string>>
}

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
  return JSON.parse(readFileSync(layout.siteFile, 'utf8')) as SiteState
}

export function writeState(layout: Layout, state: SiteState): void {
  const tmp = `${layout.siteFile}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n')
  renameSync(tmp, layout.siteFile)
}

export function nodesWithRole(state: SiteState, role: NodeRole): NodeName[] {
  return NODE_NAMES.filter((n) => state.roles[n] === role)
}
