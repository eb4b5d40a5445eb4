/**
 * Carrying out backups on the local site: physical through pgBackRest (from the hot standby
 * when it streams), logical through pg_dump plus the guide's user-progress CSV export, each
 * with a manifest and SHA-256 sums in protected storage, locally and sealed offsite.
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { BackupRecord, PhysicalType } from '../../core/backup-policy.ts'
import type { LocalSite } from './local-site/site.ts'
import { DATABASE, NODE_NAMES, type NodeName } from './local-site/layout.ts'
import { pgBin, probe, query } from './postgres.ts'
import { mkdirForSiteUser, giveToSiteUser, walkFiles } from './process.ts'
import { log } from './cli.ts'
import { EXPORTS_PREFIX, expireOffsiteExports, uploadExport, verifyOffsiteExport } from './offsite-exports.ts'

/** The hot standby to back up from, or undefined (from the primary), with the reason. */
export async function backupSource(site: LocalSite): Promise<{ standby?: NodeName; reason: string }> {
  const s = site.state()
  const hot = NODE_NAMES.find((n) => s.roles[n] === 'hot')
  if (!hot) return { reason: 'no hot standby is configured: backing up from the primary' }
  const p = await probe(hot, site.conn(hot, 'postgres'))
  if (p.reachable && p.inRecovery && p.streaming) return { standby: hot, reason: `backing up from hot standby ${hot} to spare the primary` }
  return { reason: `hot standby ${hot} is not streaming (${p.error ?? 'no walreceiver'}): backing up from the primary ${s.primary}` }
}

async function withElapsed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now()
  const timer = setInterval(() => log.progress(`${what}: ${((Date.now() - t0) / 1000).toFixed(0)} s`), 500)
  try {
    return await fn()
  } finally {
    clearInterval(timer)
    log.progressDone()
  }
}

export async function physicalBackup(site: LocalSite, type: PhysicalType, repos: number[]): Promise<BackupRecord[]> {
  const s = site.state()
  site.writeBackrestConf(s) // pg1 = current primary, pg2 = hot standby
  const src = await backupSource(site)
  log.info(src.reason)
  const out: BackupRecord[] = []
  for (const repo of repos) {
    const before = new Set((await site.br.info(repo)).backups.filter((b) => b.repoKey === repo).map((b) => b.label))
    const t0 = Date.now()
    await withElapsed(`${type} backup into repo${repo}`, () => site.br.backup(type, repo, src.standby ? ['--backup-standby'] : []))
    const durationSeconds = (Date.now() - t0) / 1000
    const after = (await site.br.info(repo)).backups.filter((b) => b.repoKey === repo && !before.has(b.label))
    const b = after.at(-1)
    if (!b) throw new Error(`pgBackRest reported success but repo${repo} shows no new backup`)
    const notes = [src.reason]
    if (b.type !== type) {
      const why = `no prior backup in repo${repo} to base a ${type} on: pgBackRest changed ${type} to ${b.type}`
      log.warn(why)
      notes.push(why)
    }
    out.push({
      requestedType: type, type: b.type, repo, label: b.label, sizeBytes: b.size, copiedBytes: b.delta, storedBytes: b.repoDelta ?? b.repoSize ?? null, durationSeconds,
      startLsn: b.lsnStart, stopLsn: b.lsnStop, startTime: new Date(b.start * 1000).toISOString(), stopTime: new Date(b.stop * 1000).toISOString(),
      source: src.standby ?? s.primary, location: `repo${repo}`, notes,
    })
  }
  return out
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

export const USER_PROGRESS_EXPORT_SQL = `COPY (SELECT user_id, progress_data, achievements, favorites, last_updated FROM user_progress ORDER BY id) TO STDOUT WITH CSV HEADER`

/**
 * pg_dump (directory format, parallel) and the user-progress CSV, into
 * <repo1>/exports/<label>/ (0700, the site user's), with manifest.json and SHA-256 sums; then,
 * for repo 2, sealed offsite under exports/<label>/ and read back before it counts. One record
 * per destination. Without repo 1 the local copy is removed only once the offsite one verified.
 */
export async function logicalExport(site: LocalSite, repos: number[]): Promise<BackupRecord[]> {
  const s = site.state()
  const src = await backupSource(site)
  const node = src.standby ?? s.primary
  const port = site.port(node)
  const started = new Date()
  const label = `${started.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}L`
  const root = join(site.l.pgbackrest.repo1, 'exports')
  const dir = join(root, label)
  mkdirForSiteUser(root, 0o700)
  mkdirForSiteUser(dir, 0o700)
  const [lsnRow] = await query<{ lsn: string }>(site.conn(node, 'postgres'), `SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn`)
  const t0 = Date.now()
  try {
    await withElapsed(`pg_dump of ${DATABASE} from ${node}`, () =>
      site.run(pgBin('pg_dump'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-Fd', '-j', '2', '-Z', '1', '-f', join(dir, 'pg_dump'), DATABASE], { asSiteUser: true, timeoutMs: 4 * 3600_000 }),
    )
    await withElapsed('user_progress CSV export', () =>
      site.run('bash', ['-o', 'pipefail', '-c', `${pgBin('psql')} -X -q -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3" | gzip -1 > "$4"`, 'export', String(port), DATABASE, USER_PROGRESS_EXPORT_SQL, join(dir, 'user_progress.csv.gz')], { asSiteUser: true, timeoutMs: 4 * 3600_000 }),
    )
  } catch (e) {
    rmSync(dir, { recursive: true, force: true }) // never leave a half export that looks complete
    throw e
  }
  const files = await Promise.all(walkFiles(dir).map(async (f) => ({ path: relative(dir, f), bytes: statSync(f).size, sha256: await sha256(f) })))
  const dumpSeconds = (Date.now() - t0) / 1000
  const stopped = new Date()
  const manifest = { label, type: 'logical', database: DATABASE, source: node, lsn: lsnRow?.lsn, startTime: started.toISOString(), stopTime: stopped.toISOString(), files }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 })
  writeFileSync(join(dir, 'SHA256SUMS'), files.map((f) => `${f.sha256}  ${f.path}`).join('\n') + '\n', { mode: 0o600 })
  for (const f of ['manifest.json', 'SHA256SUMS']) giveToSiteUser(join(dir, f))
  chmodSync(dir, 0o700)
  const bytes = files.reduce((a, f) => a + f.bytes, 0)
  const retention = site.policy.schedules.logicalExport.retention * 1000
  const record = (repo: number, location: string, storedBytes: number, durationSeconds: number, notes: string[]): BackupRecord => ({
    requestedType: 'logical', type: 'logical', repo, label, sizeBytes: bytes, copiedBytes: bytes, storedBytes, durationSeconds,
    startLsn: lsnRow?.lsn ?? null, stopLsn: null, startTime: started.toISOString(), stopTime: stopped.toISOString(), source: node, location, notes: [src.reason, ...notes],
  })
  const out: BackupRecord[] = []
  if (repos.includes(1)) {
    const expired = expireExports(root, retention, label)
    out.push(record(1, dir, bytes, dumpSeconds, expired.length ? [`expired ${expired.length} local export(s) older than the policy's retention`] : []))
  }
  if (repos.includes(2)) {
    const off = site.offsite()
    try {
      const t1 = Date.now()
      const stored = await withElapsed(`sealing and uploading ${label} offsite`, () => uploadExport(off, dir, label))
      const v = await withElapsed(`reading ${label} back from offsite`, () => verifyOffsiteExport(off, label))
      if (!v.ok) throw new Error(`the offsite copy of ${label} does not verify: ${v.bad.join(', ')}`)
      const expired = await expireOffsiteExports(off, retention, label)
      out.push(record(2, off.store.describe(`${EXPORTS_PREFIX}${label}/`), stored, dumpSeconds + (Date.now() - t1) / 1000,
        [`sealed with AES-256-GCM and read back: ${v.files} files match their SHA-256`, ...(expired.length ? [`expired ${expired.length} offsite export(s) older than the policy's retention`] : [])]))
    } catch (e) {
      throw new Error(`${(e as Error).message}\nthe export itself is complete and kept at ${dir}`)
    } finally {
      off.store.close()
    }
  }
  if (!repos.includes(1)) rmSync(dir, { recursive: true, force: true })
  return out
}

/** Remove complete exports older than the retention, never the one just written. */
export function expireExports(root: string, retentionMs: number, keep: string): string[] {
  if (!existsSync(root)) return []
  const now = Date.now()
  const gone: string[] = []
  for (const d of readdirSync(root)) {
    if (d === keep || !existsSync(join(root, d, 'manifest.json'))) continue
    if (now - statSync(join(root, d, 'manifest.json')).mtimeMs > retentionMs) {
      rmSync(join(root, d), { recursive: true, force: true })
      gone.push(d)
    }
  }
  return gone
}

/** Verify an export against its SHA-256 sums. */
export async function verifyExport(dir: string): Promise<{ ok: boolean; bad: string[] }> {
  const { readFileSync } = await import('node:fs')
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] }
  const bad: string[] = []
  for (const f of manifest.files) if (!existsSync(join(dir, f.path)) || (await sha256(join(dir, f.path))) !== f.sha256) bad.push(f.path)
  return { ok: bad.length === 0, bad }
}

