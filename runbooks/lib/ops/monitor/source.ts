/**
 * What the exporter reads, from wherever the site is: the local site (its status, catalog, audit
 * log and evidence ledger) or a cloud stack (cloud-source.ts: the inventory's nodes over libpq,
 * the vaults with pgBackRest, PGO's backup jobs). One shape, so the metrics, the rules and the
 * routes are the same everywhere.
 */
import { existsSync, statfsSync, statSync } from 'node:fs'
import type { DrPolicy } from '../../../../core/policy.ts'
import { walkFiles } from '../../adapters/process.ts'
import { buildCatalog, type CatalogReport } from '../catalog/report.ts'
import { auditEntries, backupOutcomes } from '../report/report.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface NodeReading {
  name: string
  /** the node's place: primary, hot, warm (fenced: a deposed primary) */
  role: string
  /** refused: it answers but refuses the probe's login (no TLS, no password): alive, state unread */
  live: 'primary' | 'standby' | 'down' | 'refused'
  replicationLagBytes: number | null
  replayLagSeconds: number | null
  syncState: string | null
}

/** The primary answers: as a primary, or refusing the probe's login (alive: a login problem never reads as down). */
export const primaryAnswers = (n: NodeReading | undefined): boolean => n?.live === 'primary' || n?.live === 'refused'

export interface StatusReading {
  primary: string
  nodes: NodeReading[]
  endpoint: { target: string | null }
  archive: { failing: boolean; lagSegments: number | null; lastArchivedAgeSeconds: number | null } | null
  /** repos whose health was read with the status (the cloud's come with the catalog) */
  repos: { index: number; healthy: boolean }[]
  /** WAL waiting for the offsite repo (the local site's second archiving lane; none in the cloud) */
  offsiteQueue: { files: number; oldestAgeSeconds: number | null } | null
}

/** One finished backup run: `key` identifies it, so each is counted once however often it is read. */
export interface BackupRun {
  key: string
  type: string
  ok: boolean
}

export interface MonitorSource {
  readonly policy: DrPolicy
  status(): Promise<StatusReading>
  catalog(): Promise<CatalogReport>
  /** bytes a repo stores and the capacity it has, where both can be measured from here */
  storage(repo: number): { used: number; capacity: number } | null
  backupRuns(): Promise<BackupRun[]>
  /** the evidence ledger's file, when this source has one */
  readonly evidenceFile: string | null
  /** hand a fresh status reading to whoever else watches (a cloud stack: CloudWatch, for DNS failover) */
  publish?(s: StatusReading | null): Promise<void>
}

export function localSource(site: LocalSitePort, auditFile: string): MonitorSource {
  return {
    policy: site.policy,
    status: () => site.status(),
    catalog: () => buildCatalog(site),
    storage: (repo) => {
      const dir = repo === 1 ? site.layout.pgbackrest.repo1 : site.layout.s3.data
      if (!existsSync(dir)) return null
      const fs = statfsSync(dir)
      return { used: walkFiles(dir).reduce((sum, f) => sum + statSync(f).size, 0), capacity: fs.blocks * fs.bsize }
    },
    backupRuns: async () =>
      backupOutcomes(auditEntries(auditFile)).map((o, i) => ({ key: `${o.at}:${i}`, type: o.type, ok: o.ok })),
    evidenceFile: site.layout.evidenceFile,
  }
}
