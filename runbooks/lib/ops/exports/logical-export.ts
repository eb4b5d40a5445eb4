/**
 * A logical export on disk, wherever the database is: pg_dump (directory format, parallel) and
 * the guide's user-progress CSV (gzip), then manifest.json and SHA256SUMS. A half export is
 * never left behind looking complete. Used by the local site and by cloud stacks alike.
 */
import { createHash } from 'node:crypto'
import {
  chmodSync,
  createReadStream,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join, relative } from 'node:path'
import type { BackupRecord } from '../../../../core/backup-policy.ts'
import type { Runner } from '../../adapters/exec.ts'
import { log } from '../../output/log.ts'
import { pgBin } from '../../adapters/postgres.ts'
import { giveToSiteUser, mkdirForSiteUser, walkFiles } from '../../adapters/process.ts'

export const USER_PROGRESS_EXPORT_SQL = `COPY (SELECT user_id, progress_data, achievements, favorites, last_updated FROM user_progress ORDER BY id) TO STDOUT WITH CSV HEADER`

export interface DumpConnection {
  /** libpq options for pg_dump and psql (-h/-p/-U), or none when the PG* environment says it all */
  args: string[]
  /** PGPASSWORD and friends travel here, never in argv */
  env?: Record<string, string>
  database: string
  /** who the export came from, for the record */
  source: string
  /** run as the local site's user (files owned by postgres) */
  asSiteUser: boolean
}

export interface ExportOnDisk {
  label: string
  dir: string
  files: { path: string; bytes: number; sha256: string }[]
  bytes: number
  startTime: string
  stopTime: string
  lsn: string | null
  source: string
  seconds: number
}

/** 20261126T013000L: the export's start, UTC. */
export const exportLabel = (d: Date) => `${d.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}L`

/** The start time a label names (undefined for anything that is not an export label). */
export function labelTime(label: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)L$/.exec(label)
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : undefined
}

export async function sha256(file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

export async function withElapsed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now()
  const timer = setInterval(() => log.progress(`${what}: ${((Date.now() - t0) / 1000).toFixed(0)} s`), 500)
  try {
    return await fn()
  } finally {
    clearInterval(timer)
    log.progressDone()
  }
}

/** Write one export into `<root>/<label>/` (0700). `lsn`: where the source stood when it began. */
export async function writeExport(
  run: Runner,
  c: DumpConnection,
  root: string,
  started: Date,
  lsn: string | null,
): Promise<ExportOnDisk> {
  const label = exportLabel(started)
  const dir = join(root, label)
  mkdirForSiteUser(root, 0o700)
  mkdirForSiteUser(dir, 0o700)
  const t0 = Date.now()
  try {
    await dumpInto(run, c, dir)
  } catch (e) {
    rmSync(dir, { recursive: true, force: true }) // never leave a half export that looks complete
    throw e
  }
  const files = await Promise.all(
    walkFiles(dir).map(async (f) => ({ path: relative(dir, f), bytes: statSync(f).size, sha256: await sha256(f) })),
  )
  const stopTime = new Date().toISOString()
  const manifest = {
    label,
    type: 'logical',
    database: c.database,
    source: c.source,
    lsn,
    startTime: started.toISOString(),
    stopTime,
    files,
  }
  writeManifest(dir, manifest, !!c.asSiteUser)
  return {
    label,
    dir,
    files,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    startTime: started.toISOString(),
    stopTime,
    lsn,
    source: c.source,
    seconds: (Date.now() - t0) / 1000,
  }
}

/** pg_dump (directory format, 2 jobs) and the guide's user-progress CSV, gzip'd. */
async function dumpInto(run: Runner, c: DumpConnection, dir: string): Promise<void> {
  const opts = { asSiteUser: c.asSiteUser, env: c.env, timeoutMs: 4 * 3600_000 }
  await withElapsed(`pg_dump of ${c.database} from ${c.source}`, () =>
    run(pgBin('pg_dump'), [...c.args, '-Fd', '-j', '2', '-Z', '1', '-f', join(dir, 'pg_dump'), c.database], opts),
  )
  const csv = `"$1" -X -q "\${@:5}" -d "$2" -c "$3" | gzip -1 > "$4"`
  const csvArgs = [pgBin('psql'), c.database, USER_PROGRESS_EXPORT_SQL, join(dir, 'user_progress.csv.gz'), ...c.args]
  await withElapsed('user_progress CSV export', () =>
    run('bash', ['-o', 'pipefail', '-c', csv, 'export', ...csvArgs], opts),
  )
}

/** manifest.json and SHA256SUMS, last: an export without them is visibly incomplete. */
function writeManifest(
  dir: string,
  manifest: { files: { path: string; sha256: string }[] },
  asSiteUser: boolean,
): void {
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 })
  const sums = manifest.files.map((f) => `${f.sha256}  ${f.path}`).join('\n') + '\n'
  writeFileSync(join(dir, 'SHA256SUMS'), sums, { mode: 0o600 })
  if (asSiteUser) for (const f of ['manifest.json', 'SHA256SUMS']) giveToSiteUser(join(dir, f))
  chmodSync(dir, 0o700)
}

/** The record of one export at one destination. */
export function exportRecord(
  e: ExportOnDisk,
  repo: number,
  location: string,
  storedBytes: number,
  durationSeconds: number,
  notes: string[],
): BackupRecord {
  return {
    requestedType: 'logical',
    type: 'logical',
    repo,
    label: e.label,
    sizeBytes: e.bytes,
    copiedBytes: e.bytes,
    storedBytes,
    durationSeconds,
    startLsn: e.lsn,
    stopLsn: null,
    startTime: e.startTime,
    stopTime: e.stopTime,
    source: e.source,
    location,
    notes,
  }
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
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    files: { path: string; sha256: string }[]
  }
  const bad: string[] = []
  for (const f of manifest.files)
    if (!existsSync(join(dir, f.path)) || (await sha256(join(dir, f.path))) !== f.sha256) bad.push(f.path)
  return { ok: bad.length === 0, bad }
}
