/**
 * The DR exporter: Prometheus metrics of what a site's status, catalog, backup runs and evidence
 * ledger say, read through a MonitorSource (the local site, or a cloud stack). Reads happen in
 * the background — the status every scrape interval, the catalog every `catalogRefresh` — and a
 * scrape answers from the last reading (ages are computed at scrape time, and the age of each
 * reading is exported). A site that is down is reported as down (labdojo_site_up 0), never as
 * an error page.
 */
import { existsSync } from 'node:fs'
import { Counter, Gauge, Registry } from 'prom-client'
import { storageGrowth, monthOf } from '../../../../core/report.ts'
import type { CatalogBackup } from '../../../../core/recovery.ts'
import { readEvidence } from '../../output/evidence.ts'
import { log } from '../../output/log.ts'
import type { CatalogReport } from '../catalog/report.ts'
import { primaryAnswers, type MonitorSource, type StatusReading } from './source.ts'
import { firstLine } from '../../../../core/errors.ts'

const now = () => Date.now() / 1000

export class Exporter {
  readonly registry = new Registry()
  private status: { at: number; value: StatusReading | null; error: string | null } = {
    at: 0,
    value: null,
    error: null,
  }
  private catalog: { at: number; value: CatalogReport | null } = { at: 0, value: null }
  private runsSeen = new Set<string>()
  private timers: NodeJS.Timeout[] = []

  private g = (name: string, help: string, labelNames: string[] = [], collect?: () => void) =>
    new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) })

  private readonly siteUp = this.g('labdojo_site_up', 'the primary answers (1) or not (0)')
  private readonly nodeUp = this.g('labdojo_node_up', 'a node answers', ['node', 'role'])
  private readonly lagBytes = this.g('labdojo_replication_lag_bytes', 'bytes a standby is behind the primary', [
    'node',
    'role',
  ])
  private readonly lagSeconds = this.g('labdojo_replication_lag_seconds', 'seconds a standby is behind (replay lag)', [
    'node',
    'role',
  ])
  private readonly sync = this.g('labdojo_replication_synchronous', 'the standby confirms commits (1) or not', ['node'])
  private readonly endpoint = this.g('labdojo_endpoint_target', '1 for the node the endpoint routes to', ['node'])
  private readonly archiveFailing = this.g('labdojo_wal_archive_failing', 'the primary archive_command is failing')
  private readonly archiveCurrent = this.g(
    'labdojo_wal_archive_current',
    'everything but the segment being written is archived',
  )
  private readonly archiveBehind = this.g('labdojo_wal_segments_behind', 'WAL segments not yet archived')
  private readonly archiveLast = this.g(
    'labdojo_wal_last_archived_age_seconds',
    'seconds since the last archived segment',
  )
  private readonly queueFiles = this.g('labdojo_offsite_queue_files', 'WAL files waiting for repo 2')
  private readonly queueAge = this.g(
    'labdojo_offsite_queue_oldest_age_seconds',
    'age of the oldest WAL file waiting for repo 2',
  )
  // from the status where it probes the repos (the local site), else from the catalog's reading (a cloud stack)
  private readonly repoReachable: Gauge = this.g(
    'labdojo_repo_reachable',
    'pgBackRest can read the repo',
    ['repo'],
    () => {
      this.repoReachable.reset()
      const fromStatus = this.status.value?.repos ?? []
      const rows = fromStatus.length
        ? fromStatus
        : (this.catalog.value?.repos ?? []).map((r) => ({ index: r.repo, healthy: r.reachable }))
      for (const r of rows) this.repoReachable.set({ repo: String(r.index) }, r.healthy ? 1 : 0)
    },
  )
  private readonly lastBackup = this.g(
    'labdojo_backup_last_success_timestamp_seconds',
    'end of the newest good backup',
    ['repo', 'type'],
  )
  private readonly lastSize = this.g('labdojo_backup_last_size_bytes', 'stored size of the newest good backup', [
    'repo',
    'type',
  ])
  private readonly lastDuration = this.g('labdojo_backup_last_duration_seconds', 'duration of the newest good backup', [
    'repo',
    'type',
  ])
  private readonly pointTime = this.g('labdojo_recoverable_point_timestamp_seconds', 'the latest recoverable point', [
    'repo',
  ])
  // ages are computed when scraped, from the time of the reading
  private readonly pointAge: Gauge = this.g(
    'labdojo_recoverable_point_age_seconds',
    'age of the latest recoverable point',
    ['repo'],
    () => {
      this.pointAge.reset()
      for (const r of this.catalog.value?.repos ?? [])
        if (r.latest) this.pointAge.set({ repo: String(r.repo) }, now() - r.latest.time / 1000)
    },
  )
  private readonly filesRpo = this.g('labdojo_files_rpo_seconds', "a files class's tier RPO", ['class', 'repo'])
  private readonly filesAge: Gauge = this.g(
    'labdojo_files_snapshot_age_seconds',
    'age of the newest snapshot of a files class (policy.files) in a repo; absent: never backed up',
    ['class', 'repo'],
    () => {
      this.filesAge.reset()
      this.filesRpo.reset()
      for (const f of this.catalog.value?.files ?? []) {
        const l = { class: f.class, repo: String(f.repo) }
        this.filesRpo.set(l, f.rpoSeconds)
        if (f.newest) this.filesAge.set(l, now() - Date.parse(f.newest.time) / 1000)
      }
    },
  )
  private readonly used = this.g('labdojo_repo_used_bytes', 'bytes the repo stores', ['repo'])
  private readonly capacity = this.g('labdojo_repo_capacity_bytes', 'size of the file system the repo lives on', [
    'repo',
  ])
  private readonly growth = this.g('labdojo_repo_growth_ratio', 'stored bytes now vs a month ago, minus 1', ['repo'])
  private readonly ledgerPresent = this.g(
    'labdojo_evidence_ledger_present',
    'the evidence ledger exists (proof metrics need it)',
  )
  private readonly proofVerdict = this.g('labdojo_proof_last_verdict', 'newest proof per repo: 1 proven, 0 failed', [
    'repo',
  ])
  private readonly proofTime = this.g('labdojo_proof_last_timestamp_seconds', 'when the newest proof ran', ['repo'])
  private readonly drillVerdict = this.g('labdojo_drill_last_verdict', 'newest drill per level: 1 passed, 0 failed', [
    'level',
  ])
  private readonly drillTime = this.g('labdojo_drill_last_timestamp_seconds', 'when the newest drill ran', ['level'])
  private readonly drillRto = this.g('labdojo_drill_last_rto_seconds', 'worst recovery time in the newest drill', [
    'level',
  ])
  private readonly drillRpo = this.g('labdojo_drill_last_rpo_seconds', 'worst data-loss window in the newest drill', [
    'level',
  ])
  private readonly failovers = this.g('labdojo_failovers_total', 'failovers recorded in the evidence ledger')
  private readonly statusAge: Gauge = this.g('labdojo_status_age_seconds', 'age of the status reading', [], () =>
    this.statusAge.set(this.status.at ? now() - this.status.at : -1),
  )
  private readonly catalogAge: Gauge = this.g('labdojo_catalog_age_seconds', 'age of the catalog reading', [], () =>
    this.catalogAge.set(this.catalog.at ? now() - this.catalog.at : -1),
  )
  private readonly backupFailures = new Counter({
    name: 'labdojo_backup_failures_total',
    help: 'failed backups (the audit log; in the cloud, PGO backup jobs)',
    labelNames: ['type'],
    registers: [this.registry],
  })
  private readonly backupSuccesses = new Counter({
    name: 'labdojo_backup_successes_total',
    help: 'backups that succeeded (the audit log; in the cloud, PGO backup jobs)',
    labelNames: ['type'],
    registers: [this.registry],
  })
  private readonly proofs = new Counter({
    name: 'labdojo_proofs_total',
    help: 'proofs in the evidence ledger, by verdict (the data integrity score is proven / all)',
    labelNames: ['verdict'],
    registers: [this.registry],
  })
  private proofsSeen = 0

  constructor(private readonly source: MonitorSource) {}

  /** Read everything once (the first scrape has data), then keep reading in the background. */
  async start(): Promise<void> {
    await Promise.all([this.refreshStatus(), this.refreshCatalog()])
    const every = (ms: number, fn: () => Promise<void>) => {
      const loop = async () => {
        await fn()
        this.timers.push(setTimeout(loop, ms))
      }
      this.timers.push(setTimeout(loop, ms))
    }
    every(this.source.policy.monitoring.scrapeInterval * 1000, () => this.refreshStatus())
    every(this.source.policy.monitoring.catalogRefresh * 1000, () => this.refreshCatalog())
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t)
  }

  metrics(): Promise<string> {
    return this.registry.metrics()
  }

  async refreshStatus(): Promise<void> {
    try {
      this.status = { at: now(), value: await this.source.status(), error: null }
    } catch (e) {
      this.status = { at: now(), value: null, error: firstLine(e) }
      log.warn(`status: ${this.status.error}`)
    }
    this.fromStatus(this.status.value)
    await this.source.publish?.(this.status.value).catch((e: Error) => log.warn(`publish: ${firstLine(e)}`))
    await this.fromBackupRuns()
    this.fromLedger()
  }

  async refreshCatalog(): Promise<void> {
    try {
      this.catalog = { at: now(), value: await this.source.catalog() }
      this.fromCatalog(this.catalog.value!)
    } catch (e) {
      log.warn(`catalog: ${firstLine(e)}`)
    }
  }

  private fromStatus(s: StatusReading | null): void {
    for (const g of [this.nodeUp, this.lagBytes, this.lagSeconds, this.sync, this.endpoint]) g.reset()
    const primary = s?.nodes.find((n) => n.name === s.primary)
    this.siteUp.set(primaryAnswers(primary) ? 1 : 0)
    if (!s) return
    for (const n of s.nodes) {
      const l = { node: n.name, role: n.role }
      this.nodeUp.set(l, n.live === 'down' ? 0 : 1)
      if (n.role === 'primary' || n.role === 'fenced') continue
      if (n.replicationLagBytes !== null) this.lagBytes.set(l, n.replicationLagBytes)
      if (n.replayLagSeconds !== null) this.lagSeconds.set(l, n.replayLagSeconds)
      this.sync.set({ node: n.name }, n.syncState === 'sync' || n.syncState === 'quorum' ? 1 : 0)
    }
    if (s.endpoint.target) this.endpoint.set({ node: s.endpoint.target }, 1)
    if (s.archive) {
      this.archiveFailing.set(s.archive.failing ? 1 : 0)
      this.archiveCurrent.set(!s.archive.failing && (s.archive.lagSegments ?? 99) <= 1 ? 1 : 0)
      if (s.archive.lagSegments !== null) this.archiveBehind.set(s.archive.lagSegments)
      if (s.archive.lastArchivedAgeSeconds !== null) this.archiveLast.set(s.archive.lastArchivedAgeSeconds)
    }
    if (s.offsiteQueue) {
      this.queueFiles.set(s.offsiteQueue.files)
      this.queueAge.set(s.offsiteQueue.oldestAgeSeconds ?? 0)
    }
  }

  private fromCatalog(c: CatalogReport): void {
    for (const g of [
      this.lastBackup,
      this.lastSize,
      this.lastDuration,
      this.pointTime,
      this.used,
      this.capacity,
      this.growth,
    ])
      g.reset()
    for (const r of c.repos) {
      const repo = String(r.repo)
      const good = r.backups.filter((b) => !b.error)
      for (const type of ['full', 'diff', 'incr'] as const) {
        const b = good.filter((x) => x.type === type).at(-1)
        if (!b) continue
        this.lastBackup.set({ repo, type }, b.stop / 1000)
        this.lastSize.set({ repo, type }, b.repoSize ?? b.size)
        this.lastDuration.set({ repo, type }, (b.stop - b.start) / 1000)
      }
      if (r.latest) this.pointTime.set({ repo }, r.latest.time / 1000)
      const g = storageGrowth(good as CatalogBackup[], monthOf(undefined, new Date()))
      if (g.value !== null) this.growth.set({ repo }, g.value / 100)
      const storage = this.source.storage(r.repo)
      if (storage) {
        this.used.set({ repo }, storage.used)
        this.capacity.set({ repo }, storage.capacity)
      }
    }
  }

  /** Each finished backup run counted once (a series exists per type from the start, so increase() sees the first failure). */
  private async fromBackupRuns(): Promise<void> {
    for (const type of ['full', 'diff', 'incr', 'logical']) {
      this.backupFailures.inc({ type }, 0)
      this.backupSuccesses.inc({ type }, 0)
    }
    const runs = await this.source.backupRuns().catch((e: Error) => {
      log.warn(`backup runs: ${firstLine(e)}`)
      return []
    })
    for (const r of runs) {
      if (this.runsSeen.has(r.key)) continue
      this.runsSeen.add(r.key)
      ;(r.ok ? this.backupSuccesses : this.backupFailures).inc({ type: r.type })
    }
  }

  private fromLedger(): void {
    const file = this.source.evidenceFile
    this.ledgerPresent.set(file && existsSync(file) ? 1 : 0)
    for (const verdict of ['proven', 'failed']) this.proofs.inc({ verdict }, 0)
    if (!file || !existsSync(file)) return
    const ledger = readEvidence(file)
    const proofs = ledger.filter((r) => r.kind === 'proof')
    for (const r of proofs.slice(this.proofsSeen))
      this.proofs.inc({ verdict: r.verdict === 'proven' ? 'proven' : 'failed' })
    this.proofsSeen = proofs.length
    for (const r of ledger) {
      const at = Date.parse(r.at) / 1000
      if (r.kind === 'proof') {
        this.proofVerdict.set({ repo: String(r.repo) }, r.verdict === 'proven' ? 1 : 0)
        this.proofTime.set({ repo: String(r.repo) }, at)
      } else if (r.kind === 'drill') {
        const level = String(r.level)
        const objectives = (r.objectives as { worstRtoSeconds: number | null; worstRpoSeconds: number | null }[]) ?? []
        this.drillVerdict.set({ level }, r.verdict === 'passed' ? 1 : 0)
        this.drillTime.set({ level }, at)
        const worst = (k: 'worstRtoSeconds' | 'worstRpoSeconds') =>
          Math.max(0, ...objectives.map((o) => o[k]).filter((v): v is number => typeof v === 'number'))
        this.drillRto.set({ level }, worst('worstRtoSeconds'))
        this.drillRpo.set({ level }, worst('worstRpoSeconds'))
      }
    }
    this.failovers.set(ledger.filter((r) => r.kind === 'failover' && r.verdict === 'ok').length)
  }
}
