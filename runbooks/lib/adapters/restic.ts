/**
 * restic, the one adapter: encrypted, deduplicated snapshots of the application tree in a repo
 * on local disk (beside pgBackRest's repo1) or in the offsite S3 bucket (beside repo2). The
 * password travels as a file path in the environment (RESTIC_PASSWORD_FILE), the S3 keys in the
 * environment; argv holds neither. Snapshots are tagged `class=<name>` (the policy's data class).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Runner } from './exec.ts'

export interface ResticTarget {
  /** 1 = local storage, 2 = offsite S3 */
  repo: number
  /** a directory, or s3:https://host:port/bucket/prefix */
  url: string
  passwordFile: string
  /** the CA to trust for a self-signed S3 endpoint (a path, not a secret) */
  cacert?: string
  s3?: { accessKeyId: string; secretAccessKey: string }
  /** restic's local index cache (speeds up the next backup); none: --no-cache */
  cacheDir?: string
}

export interface Snapshot {
  id: string
  short_id: string
  time: string
  paths: string[]
  tags?: string[]
  hostname: string
}

export interface SnapshotNode {
  type: 'file' | 'dir' | 'symlink'
  path: string
  size?: number
  /** Go's os.FileMode: the permission bits are the low 9 */
  mode: number
}

export interface BackupSummary {
  snapshot_id: string
  files_new: number
  files_changed: number
  files_unmodified: number
  data_added: number
  total_files_processed: number
  total_bytes_processed: number
  total_duration: number
}

export const classTag = (name: string) => `class=${name}`

export class Restic {
  constructor(
    private readonly run: Runner,
    readonly target: ResticTarget,
  ) {}

  private async restic(args: string[], cwd?: string, timeoutMs = 3_600_000) {
    const t = this.target
    const opts = [
      '--repo',
      t.url,
      ...(t.cacheDir ? ['--cache-dir', t.cacheDir] : ['--no-cache']),
      ...(t.cacert ? ['--cacert', t.cacert] : []),
      ...(t.url.startsWith('s3:') ? ['-o', 's3.bucket-lookup=path'] : []),
    ]
    const env: Record<string, string> = { RESTIC_PASSWORD_FILE: t.passwordFile, RESTIC_PROGRESS_FPS: '0' }
    if (t.s3) Object.assign(env, { AWS_ACCESS_KEY_ID: t.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: t.s3.secretAccessKey })
    return this.run('restic', [...opts, ...args], { env, cwd, timeoutMs })
  }

  /** Create the repository once; true when it did. */
  async ensureInit(): Promise<boolean> {
    // a local repository shows itself without a command (each one pays restic's key derivation)
    if (!this.target.url.includes(':') && existsSync(join(this.target.url, 'config'))) return false
    const probe = await this.restic(['cat', 'config'], undefined, 60_000).catch((e: Error) => e)
    if (!(probe instanceof Error)) return false
    if (!/does not exist|Is there a repository|unable to open config file/i.test(probe.message)) throw probe
    await this.restic(['init'], undefined, 120_000)
    return true
  }

  /** Back up `paths` (relative to `cwd`, so a snapshot's tree starts at them). */
  async backup(cwd: string, paths: string[], tags: string[], time?: Date): Promise<BackupSummary> {
    const args = ['backup', '--json', ...tags.flatMap((t) => ['--tag', t])]
    if (time) args.push('--time', time.toISOString().slice(0, 19).replace('T', ' '))
    const out = await this.restic([...args, '--', ...paths], cwd)
    const summary = out.stdout
      .split('\n')
      .filter((l) => l.includes('"message_type":"summary"'))
      .map((l) => JSON.parse(l) as BackupSummary)
      .at(-1)
    if (!summary) throw new Error(`restic backup into repo${this.target.repo} printed no summary`)
    return summary
  }

  async snapshots(tag?: string): Promise<Snapshot[]> {
    const out = await this.restic(['snapshots', '--json', ...(tag ? ['--tag', tag] : [])], undefined, 300_000)
    return (JSON.parse(out.stdout || '[]') as Snapshot[]).sort((a, b) => a.time.localeCompare(b.time))
  }

  /** Every node of a snapshot, paths from its tree root (e.g. /uploads/a.jpg). */
  async ls(id: string): Promise<SnapshotNode[]> {
    const out = await this.restic(['ls', '--json', id], undefined, 600_000)
    return out.stdout
      .split('\n')
      .filter((l) => l.includes('"struct_type":"node"'))
      .map((l) => JSON.parse(l) as SnapshotNode)
  }

  /** Restore a snapshot under `target`; restic reads every restored file back against its blob hashes. */
  async restore(id: string, target: string): Promise<void> {
    const out = await this.restic(['restore', id, '--target', target, '--verify'])
    if (/Fatal|There were \d+ errors/.test(out.stdout + out.stderr))
      throw new Error(`restic restore of ${id} reported errors: ${(out.stderr || out.stdout).trim()}`)
  }

  /** The repository's structure, plus a share of its data read back and checked. */
  async check(readDataSubset: string): Promise<string> {
    const out = await this.restic(['check', `--read-data-subset=${readDataSubset}`])
    return out.stdout.trim().split('\n').at(-1) ?? ''
  }

  /** Remove these snapshots and the data only they held. */
  async forget(ids: string[]): Promise<void> {
    if (ids.length) await this.restic(['forget', '--prune', ...ids])
  }
}
