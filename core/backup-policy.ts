/**
 * Which repos a backup type goes to, by the policy's storage list (primary = repo1, the local
 * backup storage; secondary = repo2, offsite), and how a backup record reads.
 */
import type { DrPolicy } from './policy.ts'
import { inputError } from './errors.ts'

export type PhysicalType = 'full' | 'diff' | 'incr'
export type BackupType = PhysicalType | 'logical'
export const BACKUP_TYPES: readonly BackupType[] = ['full', 'diff', 'incr', 'logical']

const STORAGE_REPO: Record<string, number> = { primary: 1, secondary: 2 }

export function scheduleOf(p: DrPolicy, type: BackupType) {
  return type === 'full'
    ? p.schedules.full
    : type === 'diff'
      ? p.schedules.differential
      : type === 'incr'
        ? p.schedules.incremental
        : p.schedules.logicalExport
}

/**
 * `--repo 1|2|all`, or the policy's storage for the type when absent. A logical export goes
 * to repo1's protected export directory and/or offsite beside repo2 (same bucket, exports/).
 */
export function reposFor(p: DrPolicy, type: BackupType, flag: string | undefined, available: number[]): number[] {
  if (flag === undefined)
    return scheduleOf(p, type)
      .storage.map((s) => STORAGE_REPO[s])
      .filter((r): r is number => r !== undefined && available.includes(r))
  if (flag === 'all') return available
  const n = Number(flag)
  if (!available.includes(n))
    throw inputError('--repo', flag, `must be ${available.join(', ')} or all`, `e.g. --repo ${available[0]}`)
  return [n]
}

export function parseBackupType(raw: string | undefined): BackupType {
  if (raw && (BACKUP_TYPES as readonly string[]).includes(raw)) return raw as BackupType
  throw inputError('--type', raw, `must be one of ${BACKUP_TYPES.join(', ')}`, 'e.g. --type incr')
}

export interface BackupRecord {
  requestedType: BackupType
  type: BackupType
  repo: number | null
  label: string
  /** database size */
  sizeBytes: number
  /** what this backup copied (an incr/diff copies only changes) */
  copiedBytes: number
  /** what it added to the repo, after compression (and encryption) */
  storedBytes: number | null
  durationSeconds: number
  startLsn: string | null
  stopLsn: string | null
  startTime: string
  stopTime: string
  source: string
  location: string
  notes: string[]
}
