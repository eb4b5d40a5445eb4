/**
 * The DR policy: one declared source of truth (Pulumi.yaml `config.policy`, per-stack
 * `labdojo-dr:policyOverrides`), read by the Pulumi program and by the runbooks alike.
 * `parsePolicy` (policy-parse.ts) validates everything and reports every problem at once.
 */
import { cronPeriodSeconds } from './cron.ts'

export type TierId = 1 | 2 | 3
export type SiteName = 'primary' | 'hot' | 'warm' | 'cold'
export const SITE_NAMES: readonly SiteName[] = ['primary', 'hot', 'warm', 'cold']
export type Sync = 'source' | 'real-time' | 'hourly' | 'backup-only'
export type FailoverMode = 'none' | 'automatic' | 'manual'
export type ReplicationMode = 'synchronous' | 'asynchronous' | 'archive' | 'none'

export interface Tier {
  id: TierId
  name: string
  data: string[]
  /** seconds */
  rpo: number
  rto: number
  /** seconds between backups; 0 = continuous */
  backupFrequency: number
  retention: number
}

export interface Site {
  name: SiteName
  sync: Sync
  replication: ReplicationMode
  failover: FailoverMode
  /** percent of the primary's capacity */
  capacity: number
  rto: number
  rpo: number
  testing: string
  /**
   * hot site, synchronous: seconds without a synchronous standby before the primary degrades to
   * asynchronous (and back when one streams); 'never' = strict, commits wait (the default)
   */
  syncFallback: number | 'never'
}

export interface BackupSchedule {
  cron: string
  retention: number
  storage: string[]
}

export interface Schedules {
  full: BackupSchedule
  incremental: BackupSchedule
  differential: BackupSchedule
  walArchiving: 'continuous'
  pitrWindow: number
  logicalExport: BackupSchedule
  userProgressExport: BackupSchedule
  /** when each drill level runs (5-field cron, UTC); what each runs follows the sites' testing */
  drills: { monthly: string; quarterly: string; annual: string }
  /**
   * the local site's pgBackRest 2.45 has block incremental as a beta only: off by default; beta
   * turns on repo1-bundle/repo1-block (with beta=y) to measure it (bench/block-incremental.ts)
   */
  localBlockIncremental: 'off' | 'beta'
}

export interface Detection {
  probeInterval: number
  probeTimeout: number
  failureThreshold: number
}

export interface TeamRole {
  role: string
  responsibleFor: string
  contact: string
}

export interface Communication {
  notificationOrder: string[]
  channels: { internal: string[]; external: string[] }
  contacts: { primary: string; backup: string }
}

/** The guide's "Alert Configuration" classes. */
export type AlertClass = 'backupFailure' | 'storageFull' | 'recoveryTestFailure'
export const ALERT_CLASSES: readonly AlertClass[] = ['backupFailure', 'storageFull', 'recoveryTestFailure']

export interface AlertClassPolicy {
  severity: 'critical' | 'high' | 'warning'
  /** the longest a firing alert may wait before the first person is told (seconds; 0 = at once) */
  notify: number
  /** unresolved this long: the next person in the notification order is told (seconds) */
  escalate: number
}

export interface Monitoring {
  /** seconds */
  scrapeInterval: number
  evaluationInterval: number
  /** how often the exporter re-reads the expensive things (the catalog) */
  catalogRefresh: number
  /** the newest backup of a repo older than this alerts (the guide: 24 h) */
  backupMaxAge: number
  /** percent of a repo's capacity */
  storageFullPercent: number
  /** percent growth month over month */
  storageGrowthPercent: number
  alerting: Record<AlertClass, AlertClassPolicy>
}

/** files = data (uploads, logs), config = configuration (kept indefinitely), source = the code (git bundle + archive) */
export type FileKind = 'files' | 'config' | 'source'
export const FILE_KINDS: readonly FileKind[] = ['files', 'config', 'source']

/** One data class of the application tree: what to back up (relative to the app root), when, how long. */
export interface FileClass {
  name: string
  kind: FileKind
  tier: TierId
  paths: string[]
  /** 5-field cron, UTC */
  schedule: string
  /** seconds, or kept forever */
  retention: number | 'indefinite'
  storage: string[]
}

export interface DrPolicy {
  tiers: Record<TierId, Tier>
  sites: Record<SiteName, Site>
  schedules: Schedules
  detection: Detection
  communication: Communication
  team: TeamRole[]
  monitoring: Monitoring
  files: FileClass[]
}

// ---------------------------------------------------------------------------------------
// derived facts: everything a runbook or component needs is computed here, once

/** archive_timeout that keeps the archive well inside the tier-1 RPO (1/15 of it, 10 s..5 min). */
export function archiveTimeoutSeconds(p: DrPolicy): number {
  return Math.max(10, Math.min(300, Math.floor(p.tiers[1].rpo / 15)))
}

/** pgBackRest retention: the number of full backups the schedule keeps (4 weeks of weekly fulls = 4). */
export function fullsRetained(p: DrPolicy): number {
  return Math.max(1, Math.round(p.schedules.full.retention / cronPeriodSeconds(p.schedules.full.cron)))
}

export function diffsRetained(p: DrPolicy): number {
  return Math.max(1, Math.round(p.schedules.differential.retention / cronPeriodSeconds(p.schedules.differential.cron)))
}

/** Days a full backup's files stay locked (object lock / retention): the full schedule's retention. */
export function fullBackupLockDays(p: DrPolicy): number {
  return Math.ceil(p.schedules.full.retention / 86400)
}

/** Days of offsite (cold) retention: tier 1's retention ("1 year + legal"). */
export function offsiteRetentionDays(p: DrPolicy): number {
  return Math.ceil(p.tiers[1].retention / 86400)
}
