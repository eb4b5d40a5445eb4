/**
 * Restore planning: validate every input before anything changes (target window, repo,
 * directory, port), pick the backup set (core/recovery.ts), and say the plan in words.
 */
import { existsSync, readdirSync } from 'node:fs'
import { InputError, inputError } from '../../../../core/errors.ts'
import { awaitsNewerCommit, planRestore, type RepoCatalog, type RestorePlan } from '../../../../core/recovery.ts'
import { describeTarget, type RecoveryTarget } from '../../../../core/recovery-target.ts'
import { portFree } from '../../adapters/net.ts'
import { restorePointsFile } from '../backup/restore-points.ts'
import { archiveACommit } from '../backup/close-wal.ts'
import { readRestorePoints, repoCatalog } from '../catalog/catalog.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface RestoreOptions {
  target: RecoveryTarget
  repo?: number
  into?: string
  port?: number
  inPlace: boolean
  dryRun: boolean
  /** in place to latest with the primary down: restore to the newest archived commit anyway */
  acceptDataLoss?: boolean
}

export interface RestoreReport {
  mode: 'new-cluster' | 'in-place' | 'dry-run'
  target: string
  repo: number
  backup: string
  backupType: string
  dataDir: string | null
  port: number | null
  connect: string | null
  reached: { time: string | null; lsn: string | null; detail: string | null } | null
  timings: Record<string, number>
  notes: string[]
  keptOldDataDirs?: string[]
}

/**
 * Why a restore may not go to this directory: inside (or around) a PostgreSQL data directory, a
 * repo, the secrets or the site's state (its scratch area excepted), symlinks resolved. A cluster
 * restored into a live primary's pg_tblspc broke every later backup while status said healthy.
 */
export function protectedPathClash(site: LocalSitePort, into: string): string | undefined {
  return site.guardedPathClash(into, [site.layout.scratchDir, 'its scratch area'])
}

/** --into: an absolute path to a new or empty directory (a restore never writes over files). */
export function requireNewDirectory(into: string, example: string): void {
  if (!into.startsWith('/')) throw inputError('--into', into, 'must be an absolute path', example)
  if (existsSync(into) && readdirSync(into).length > 0)
    throw inputError(
      '--into',
      into,
      'is not empty; a restore never writes over existing files',
      'pass a new or empty directory',
    )
}

async function validateDestination(site: LocalSitePort, o: RestoreOptions): Promise<void> {
  if (o.inPlace && (o.into || o.port))
    throw inputError(
      '--in-place',
      true,
      "restores over the primary's own directory and port",
      'drop --into/--port, or drop --in-place to restore into a new cluster',
    )
  if (o.into !== undefined) {
    requireNewDirectory(o.into, `e.g. --into ${site.layout.scratchDir}/my-restore`)
    const clash = protectedPathClash(site, o.into)
    if (clash)
      throw inputError(
        '--into',
        o.into,
        clash,
        `pass a new directory outside the site's data, repos and secrets, e.g. --into ${site.layout.scratchDir}/my-restore`,
      )
  }
  const { scratchFirst, scratchLast } = site.layout.ports
  // the site's password file names its own ports: on any other, nothing of ours could log in to
  // the restored cluster (its checks would wait on a password forever)
  if (o.port !== undefined && (o.port < scratchFirst || o.port > scratchLast))
    throw inputError(
      '--port',
      o.port,
      `must be one of the site's scratch ports ${scratchFirst}..${scratchLast} (the site's password file covers those)`,
      `e.g. --port ${scratchFirst}, or leave it out for the first free one`,
    )
  if (o.port !== undefined && !(await portFree(o.port)))
    throw inputError(
      '--port',
      o.port,
      `127.0.0.1:${o.port} is already in use`,
      `pick a free port within ${scratchFirst}..${scratchLast}`,
    )
}

/** Validate everything before anything changes: target range, repo, directory, port. */
export async function prepare(
  site: LocalSitePort,
  o: RestoreOptions,
): Promise<{ plan: RestorePlan; catalogs: RepoCatalog[] }> {
  await validateDestination(site, o)
  const pgPath = site.layout.node(site.state().primary).data
  const repos = o.repo ? [o.repo] : site.inventory().pgbackrest.repos.map((r) => r.index)
  const points = readRestorePoints(restorePointsFile(site))
  const planned = async () => {
    // repos are read in order and only as far as needed: repo2 (S3) is not asked when repo1 serves
    const catalogs: RepoCatalog[] = []
    for (const [i, r] of repos.entries()) {
      catalogs.push(await repoCatalog(site.run, site.br, r, pgPath, () => site.repoDown(r)))
      try {
        return { plan: planRestore(o.target, catalogs, points, o.repo), catalogs }
      } catch (e) {
        const last = i === repos.length - 1
        if (!(e instanceof InputError) || last || /unknown restore point/.test(e.message))
          throw Object.assign(e as Error, { catalogs })
      }
    }
    throw new Error('no repo to restore from') // unreachable: the inventory lists at least one repo
  }
  try {
    return await planned()
  } catch (e) {
    const catalogs = (e as { catalogs?: RepoCatalog[] }).catalogs
    if (!(e instanceof InputError) || !catalogs || !awaitsNewerCommit(o.target, catalogs, Date.now())) throw e
    // a past time no archived commit follows yet: the WAL that holds one is on the live primary
    const closed = await archiveACommit(site.conn(site.state().primary, 'postgres')).catch(() => undefined)
    if (!closed) throw e
    const again = await planned()
    again.plan.notes.unshift(
      `no commit after ${describeTarget(o.target)} had been archived yet: committed and archived WAL segment ${closed.segment} on the primary so that recovery can stop there`,
    )
    return again
  }
}

function replayText(plan: RestorePlan): string {
  const t = plan.target
  switch (t.kind) {
    case 'lsn':
      return t.lsn
    case 'time':
      return new Date(t.at).toISOString()
    case 'name':
      return `restore point ${t.name}`
    case 'immediate':
      return 'consistency (no replay beyond the backup)'
    case 'latest':
      return 'the end of the archive'
  }
}

export function planText(plan: RestorePlan, dir: string, port: number | string): string {
  const b = plan.backup
  const iso = (ms: number) => new Date(ms).toISOString()
  return [
    `restore plan`,
    `  target:      ${describeTarget(plan.target)}`,
    `  repo:        repo${plan.repo}`,
    `  backup set:  ${b.label} (${b.type}, ${iso(b.start)} .. ${iso(b.stop)}, LSN ${b.lsnStart}..${b.lsnStop})`,
    `  WAL replay:  from ${b.lsnStop} to ${replayText(plan)}`,
    `  window:      ${iso(plan.window.earliest.time)} .. ${iso(plan.window.latest.time)} (repo${plan.repo})`,
    `  into:        ${dir}, port ${port}`,
    ...plan.notes.map((n) => `  note:        ${n}`),
  ].join('\n')
}
