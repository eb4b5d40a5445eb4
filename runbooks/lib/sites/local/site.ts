/**
 * The real local DR site on 127.0.0.1: primary, hot standby (streaming, slot, sync as the
 * policy says), warm standby (WAL archive only), cold (the offsite repo alone), pgBackRest
 * with a posix repo and an encrypted S3-over-TLS repo, and PgBouncer as the traffic endpoint.
 *
 * LocalSite is the handle the runbooks pass around; each operation lives in the module named
 * after its job (provision, status, replication, node-settings, endpoint, secrets, inventory).
 */
import type { Inventory } from '../../../../core/inventory.ts'
import { routeEndpoint } from './endpoint.ts'
import { SiteHandle } from './handle.ts'
import { siteInventory } from './inventory.ts'
import type { NodeName } from './layout.ts'
import { writeNodeSettings, type RoleContext } from './node-settings.ts'
import { repoDown, up, writeBackrestConf } from './provision.ts'
import type { Change } from './state.ts'
import { down, purge } from './teardown.ts'
import { cloneStandby, ensureRunning, ensureSyncReplication } from './replication.ts'
import { cipherPassMissing, registerSiteSecrets, requireCipherPass } from './secrets.ts'
import { siteStatus, type SiteStatus } from './status.ts'
import type { NodeRole, SiteState } from './state.ts'

export type { Change, NodeRole, SiteState, SiteStatus }

export class LocalSite extends SiteHandle {
  up(opts: { scale: number; monitoring?: boolean }): Promise<Change[]> {
    return up(this, opts)
  }

  down(): Promise<Change[]> {
    return down(this)
  }

  purge(): void {
    purge(this)
  }

  /** What the site is doing; with the audit log's path, its hash chain is verified too. */
  status(auditFile?: string): Promise<SiteStatus> {
    return siteStatus(this, auditFile)
  }

  inventory(state = this.state()): Inventory {
    return siteInventory(this.layout, state)
  }

  /** Point the endpoint at a node, or fence it (undefined: route nowhere, clients queue). */
  routeEndpoint(target: NodeName | undefined): Promise<void> {
    return routeEndpoint(this, target)
  }

  /** node.conf for a role (node-settings.ts is its only writer); true when it changed. */
  writeNodeSettings(node: NodeName, role: NodeRole, ctx: RoleContext): boolean {
    return writeNodeSettings(this, node, role, ctx)
  }

  cloneStandby(state: SiteState, node: NodeName): Promise<void> {
    return cloneStandby(this, state, node)
  }

  ensureRunning(state: SiteState, node: NodeName): Promise<boolean> {
    return ensureRunning(this, state, node)
  }

  ensureSyncReplication(state: SiteState): Promise<string | undefined> {
    return ensureSyncReplication(this, state)
  }

  writeBackrestConf(state: SiteState): void {
    writeBackrestConf(this, state)
  }

  repoDown(repo: number, use: 'read' | 'write' = 'read'): Promise<string | undefined> {
    return repoDown(this, repo, use)
  }

  cipherPassMissing(): string | undefined {
    return cipherPassMissing(this.layout)
  }

  requireCipherPass(): void {
    requireCipherPass(this.layout)
  }

  /** Register every secret with the redactor, so no log line can carry one. */
  loadSecrets(): void {
    registerSiteSecrets(this.layout)
  }
}
