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
import { cipherPassMissing, readSecrets, registerSiteSecrets, requireCipherPass, siteWebhooks } from './secrets.ts'
import { siteStatus, type SiteStatus } from './status.ts'
import type { NodeRole, SiteState } from './state.ts'
import type { LocalSitePort } from '../local-port.ts'
import type { AuditLog } from '../../output/audit.ts'
import type { Webhook } from '../../adapters/notify.ts'
import { acquireSiteLock } from './lock.ts'
import { guardedPathClash } from './guarded-paths.ts'
import { waitStreaming } from './replication.ts'
import { SyncGuard } from './sync-guard.ts'
import { markFenced, recordPrimary, recordStandby, stopHard } from './roles.ts'
import { clearRestoreSettings, configuredSyncStandbys, writeStandbySignal } from './node-settings.ts'
import { freeScratchPort, localScratch, localScratchHost, restoredClusterOptions } from './scratch-host.ts'
import { claimScratch, releaseScratch, removeOrphanScratch } from './scratch.ts'
import { localReference } from './reference.ts'
import { offsiteDown, offsiteStore } from './offsite-store.ts'
import { ensureResticPassword, resticFor } from './files-site.ts'
import { appHealthy, appRunning, startApp, stopApp } from './app.ts'
import { acked, lostCommits, startWriter, stopWriter, writerRunning } from './workload.ts'
import { clearJournal, readJournal, writeJournal, type InPlaceJournal } from './restore-journal.ts'

export type { Change, NodeRole, SiteState, SiteStatus }

export class LocalSite extends SiteHandle implements LocalSitePort {
  /** the node roles (roles.ts is their only writer) */
  readonly roles = {
    stopHard: (node: NodeName) => stopHard(this, node),
    markFenced: (state: SiteState, node: NodeName, reason: string) => markFenced(this, state, node, reason),
    recordPrimary: (state: SiteState, candidate: NodeName) => recordPrimary(this, state, candidate),
    recordStandby: (state: SiteState, node: NodeName, role: 'hot' | 'warm') => recordStandby(this, state, node, role),
  }

  /** a node's settings, through node-settings.ts, their only writer */
  readonly settings = {
    syncStandbys: (node: NodeName) => configuredSyncStandbys(this.layout, node),
    writeStandbySignal,
    clearRestoreSettings,
  }

  readonly scratch = {
    host: localScratchHost(this),
    cluster: (kind: string, o: { port?: number; into?: string; synced: boolean; logName?: string }) =>
      localScratch(this.layout, kind, o),
    freePort: () => freeScratchPort(this.layout),
    options: restoredClusterOptions,
    claim: claimScratch,
    release: releaseScratch,
    removeOrphans: () => removeOrphanScratch(this),
  }

  readonly offsite = {
    store: (env?: NodeJS.ProcessEnv) => offsiteStore(this.layout, env),
    down: () => offsiteDown(this.layout),
  }

  readonly files = {
    restic: (repo: number) => resticFor(this, repo),
    ensurePassword: () => ensureResticPassword(this.layout),
  }

  readonly app = {
    running: () => appRunning(this.layout),
    start: () => startApp(this.layout),
    stop: () => stopApp(this.layout),
    healthy: (timeoutMs?: number) => appHealthy(this.layout, timeoutMs),
  }

  readonly workload = {
    running: () => writerRunning(this.layout),
    start: (rate: number) => startWriter(this.layout, rate),
    stop: () => stopWriter(this.layout),
    acked: (id?: string) => acked(this.layout, id),
    lostCommits,
  }

  readonly journal = {
    read: () => readJournal(this.layout),
    write: (j: InPlaceJournal) => writeJournal(this.layout, j),
    clear: () => clearJournal(this.layout),
  }

  reference() {
    return localReference(this)
  }

  secrets(): Record<string, string> {
    return readSecrets(this.layout)
  }

  webhooks(): Webhook[] {
    return siteWebhooks(this)
  }

  lock(command: string, waitMs?: number): Promise<() => void> {
    return acquireSiteLock(this.layout, command, waitMs)
  }

  guardedPathClash(
    path: string,
    area: [dir: string, name: string],
    o?: { areaItself?: boolean; also?: [string, string][] },
  ) {
    return guardedPathClash(this.layout, path, area, o)
  }

  waitStreaming(primary: NodeName, standbys: string[], timeoutMs?: number): Promise<void> {
    return waitStreaming(this, primary, standbys, timeoutMs)
  }

  syncGuard(audit: AuditLog, hooks: Webhook[]) {
    return new SyncGuard(this, audit, hooks)
  }

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
