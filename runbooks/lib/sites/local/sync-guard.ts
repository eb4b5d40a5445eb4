/**
 * The synchronous-replication guard of the local site, one round per probe of the --watch loop:
 * read the primary's facts, ask core/sync-guard.ts, and degrade to asynchronous (an alert to the
 * communication plan) or go back to synchronous. Node settings are written by node-settings.ts.
 */
import { decideSync, type SyncDecision } from '../../../../core/sync-guard.ts'
import { notify, type Webhook } from '../../adapters/notify.ts'
import { query } from '../../adapters/postgres.ts'
import type { AuditLog } from '../../output/audit.ts'
import { log } from '../../output/log.ts'
import type { SiteHandle } from './handle.ts'
import { writeNodeSettings } from './node-settings.ts'
import { ensureSyncReplication } from './replication.ts'
import { nodesWithRole } from './state.ts'
import type { NodeName } from './layout.ts'

export class SyncGuard {
  private withoutSince: number | null = null

  constructor(
    private readonly site: SiteHandle,
    private readonly audit: AuditLog,
    private readonly hooks: Webhook[],
  ) {}

  async round(now = Date.now()): Promise<SyncDecision> {
    const { site } = this
    const state = site.state()
    const hot = nodesWithRole(state, 'hot')
    const [r] = await query<{ names: string; sync: string[] | null; streaming: string[] | null }>(
      site.conn(state.primary, 'postgres'),
      `SELECT current_setting('synchronous_standby_names') AS names,
         array_agg(application_name::text) FILTER (WHERE sync_state IN ('sync', 'quorum')) AS sync,
         array_agg(application_name::text) FILTER (WHERE state = 'streaming') AS streaming
       FROM pg_stat_replication`,
    )
    const configured = r!.names ? hot.filter((n) => r!.names.includes(n)) : []
    const inSync = r!.sync ?? []
    if (configured.length && !inSync.length) this.withoutSince ??= now
    else this.withoutSince = null
    const decision = decideSync(site.policy.sites.hot.syncFallback, {
      wanted: site.policy.sites.hot.replication === 'synchronous',
      configured,
      inSync,
      streaming: (r!.streaming ?? []).filter((n) => (hot as string[]).includes(n)),
      withoutSyncSeconds: this.withoutSince === null ? null : (now - this.withoutSince) / 1000,
    })
    if (decision.action === 'degrade') await this.degrade(state.primary, decision.reason)
    if (decision.action === 'restore') await this.restore(decision.reason)
    return decision
  }

  private async degrade(primary: NodeName, reason: string): Promise<void> {
    const { site } = this
    await this.audit.step(
      'degrade to asynchronous replication',
      async () => {
        writeNodeSettings(site, primary, 'primary', { primary, syncStandbys: [] })
        await site.pg.reload(site.layout.node(primary).data)
      },
      { reason },
    )
    this.withoutSince = null
    log.warn(`ALERT ${reason}`)
    const results = await notify(this.hooks, `[labdojo-dr local] ALERT: ${reason}`)
    this.audit.record('notify', results.every((n) => n.ok) ? 'ok' : 'failed', { results })
  }

  private async restore(reason: string): Promise<void> {
    await this.audit.step(
      'back to synchronous replication',
      () => ensureSyncReplication(this.site, this.site.state()),
      {
        reason,
      },
    )
    log.info(reason)
    const results = await notify(this.hooks, `[labdojo-dr local] resolved: ${reason}`)
    this.audit.record('notify', results.every((n) => n.ok) ? 'ok' : 'failed', { results })
  }
}
