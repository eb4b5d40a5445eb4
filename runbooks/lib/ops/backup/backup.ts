/**
 * Carrying out backups on the local site: physical through pgBackRest (from the hot standby
 * when it streams), logical through pg_dump plus the guide's user-progress CSV export, each
 * with a manifest and SHA-256 sums in protected storage, locally and sealed offsite.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { inputError, firstLine } from '../../../../core/errors.ts'
import type { BackupRecord, PhysicalType } from '../../../../core/backup-policy.ts'
import { probe } from '../../adapters/postgres.ts'
import { processesWith, waitFor } from '../../adapters/process.ts'
import { log } from '../../output/log.ts'
import { exportRecord, expireExports, withElapsed, writeExport } from '../exports/logical-export.ts'
import { localOffsite, shipExport } from '../exports/offsite.ts'
import { NODE_NAMES, DATABASE, type LocalSitePort, type NodeName } from '../../sites/local-port.ts'

/** The hot standby to back up from, or undefined (from the primary), with the reason. */
export async function backupSource(site: LocalSitePort): Promise<{ standby?: NodeName; reason: string }> {
  const s = site.state()
  const hot = NODE_NAMES.find((n) => s.roles[n] === 'hot')
  if (!hot) return { reason: 'no hot standby is configured: backing up from the primary' }
  const p = await probe(hot, site.conn(hot, 'postgres'))
  if (p.reachable && p.inRecovery && p.streaming)
    return { standby: hot, reason: `backing up from hot standby ${hot} to spare the primary` }
  return {
    reason: `hot standby ${hot} is not streaming (${p.error ?? 'no walreceiver'}): backing up from the primary ${s.primary}`,
  }
}

export async function physicalBackup(
  site: LocalSitePort,
  type: PhysicalType,
  repos: number[],
): Promise<BackupRecord[]> {
  const s = site.state()
  site.writeBackrestConf(s) // pg1 = current primary, pg2 = hot standby
  const src = await backupSource(site)
  log.info(src.reason)
  const out: BackupRecord[] = []
  for (const repo of repos) {
    const before = new Set((await site.br.info(repo)).backups.filter((b) => b.repoKey === repo).map((b) => b.label))
    const t0 = Date.now()
    const notes = [src.reason]
    try {
      await withElapsed(`${type} backup into repo${repo}`, () =>
        site.br.backup(type, repo, src.standby ? ['--backup-standby'] : []),
      )
    } catch (e) {
      // the report must match the repo: the command we ran may have died while pgBackRest went on
      const survived = await backupOutcome(site, repo, before)
      if (!survived) throw e
      const why = `the backup command ended with an error (${firstLine(e)}), but pgBackRest went on and finished ${survived} in repo${repo}`
      log.warn(why)
      notes.push(why)
    }
    const durationSeconds = (Date.now() - t0) / 1000
    const after = (await site.br.info(repo)).backups.filter((b) => b.repoKey === repo && !before.has(b.label))
    const b = after.at(-1)
    if (!b) throw new Error(`pgBackRest reported success but repo${repo} shows no new backup`)
    if (b.type !== type) {
      const why = `no prior backup in repo${repo} to base a ${type} on: pgBackRest changed ${type} to ${b.type}`
      log.warn(why)
      notes.push(why)
    }
    out.push({
      requestedType: type,
      type: b.type,
      repo,
      label: b.label,
      sizeBytes: b.size,
      copiedBytes: b.delta,
      storedBytes: b.repoDelta ?? b.repoSize ?? null,
      durationSeconds,
      startLsn: b.lsnStart,
      stopLsn: b.lsnStop,
      startTime: new Date(b.start * 1000).toISOString(),
      stopTime: new Date(b.stop * 1000).toISOString(),
      source: src.standby ?? s.primary,
      location: `repo${repo}`,
      notes,
    })
  }
  return out
}

/**
 * After the backup command failed: wait while a pgBackRest backup of this site still runs (its
 * wrapper was killed, not pgBackRest), then the label of a backup it finished, if any.
 */
async function backupOutcome(site: LocalSitePort, repo: number, before: Set<string>): Promise<string | undefined> {
  const conf = site.layout.pgbackrest.conf
  const running = () =>
    processesWith(
      (argv) => !!argv[0]?.endsWith('pgbackrest') && argv.includes(`--config=${conf}`) && argv.includes('backup'),
    ).length > 0
  if (running()) {
    log.info('the backup command ended, but pgBackRest still runs: waiting for its outcome')
    await waitFor('pgBackRest to finish the backup', async () => !running(), 4 * 3600_000, 500)
  }
  const info = await site.br.info(repo)
  return info.backups.filter((b) => b.repoKey === repo && !before.has(b.label)).at(-1)?.label
}

/**
 * A logical export into <repo1>/exports/<label>/ (0700, the site user's), with manifest.json
 * and SHA-256 sums; then, for repo 2, sealed offsite under exports/<label>/ and read back
 * before it counts. One record per destination. Without repo 1 the local copy is removed only
 * once the offsite one verified.
 */
export async function logicalExport(site: LocalSitePort, repos: number[]): Promise<BackupRecord[]> {
  const s = site.state()
  const src = await backupSource(site)
  const node = src.standby ?? s.primary
  const root = join(site.layout.pgbackrest.repo1, 'exports')
  const started = new Date()
  const { lsn } = await probe(node, site.conn(node, 'postgres'))
  const conn = {
    args: ['-h', '127.0.0.1', '-p', String(site.port(node)), '-U', 'postgres'],
    database: DATABASE,
    source: node,
    asSiteUser: true,
  }
  const e = await writeExport(site.run, conn, root, started, lsn ?? null)
  const { label, dir } = e
  const retention = site.policy.schedules.logicalExport.retention * 1000
  const record = (repo: number, location: string, storedBytes: number, durationSeconds: number, notes: string[]) =>
    exportRecord(e, repo, location, storedBytes, durationSeconds, [src.reason, ...notes])
  const out: BackupRecord[] = []
  if (repos.includes(1)) {
    const expired = expireExports(root, retention, label)
    out.push(
      record(
        1,
        dir,
        e.bytes,
        e.seconds,
        expired.length ? [`expired ${expired.length} local export(s) older than the policy's retention`] : [],
      ),
    )
  }
  if (repos.includes(2)) {
    const off = localOffsite(site)
    try {
      const r = await shipExport(off, dir, label, retention)
      out.push(
        record(2, r.location, r.stored, e.seconds + r.seconds, [
          `sealed with AES-256-GCM and read back: ${r.files} files match their SHA-256`,
          ...(r.expired.length
            ? [`expired ${r.expired.length} offsite export(s) older than the policy's retention`]
            : []),
        ]),
      )
    } catch (err) {
      throw new Error(`${(err as Error).message}\nthe export itself is complete and kept at ${dir}`, { cause: err })
    } finally {
      off.store.close()
    }
  }
  if (!repos.includes(1)) rmSync(dir, { recursive: true, force: true })
  return out
}

/** pgBackRest and the offsite seal need the cipher pass; a local pg_dump does not. */
export function requireBackupInputs(site: LocalSitePort, type: string, repos: number[]): void {
  if (type !== 'logical' || repos.includes(2)) site.requireCipherPass()
}

/** A repo that does not answer stops the backup before it starts (exit 2, nothing written). */
export async function requireRepoReachable(
  site: LocalSitePort,
  repo: number,
  repos: number[],
  flagRepo?: string,
): Promise<void> {
  const down = await site.repoDown(repo, 'write')
  if (!down) return
  throw inputError(
    '--repo',
    flagRepo ?? `the policy's storage (repo ${repos.join(', ')})`,
    `repo${repo} is unreachable: ${down}; nothing was backed up`,
    repo === 2
      ? 'bring the S3 endpoint back (`npx zx runbooks/local.ts up`), or pass --repo 1 for now'
      : 'check the repo path, or pass --repo 2',
  )
}
