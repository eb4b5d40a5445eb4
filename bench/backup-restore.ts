/**
 * Backup and restore, ours vs the guide's baselines, side by side in one run on a generated
 * LabDojo data set (default --scale 1, about 1 GB):
 *   full backup:   pgBackRest full      vs  pg_dump | gzip (the guide)  vs  tar | lz4 of the data dir (physical limit)
 *   restore:       restore.ts latest    vs  gunzip -c | psql            vs  cp -a of a stopped data dir + start
 *   PITR:          restore.ts <time>, until the first accepted write
 *   incremental:   size and time after ~1% of user_progress rows change
 */
import { parseArgs } from 'node:util'
import { rmSync, statSync, mkdirSync, writeFileSync } from 'node:fs'
import { benchSite, median, sh, table, timed } from './lib.ts'
import { physicalBackup } from '../runbooks/lib/ops/backup/backup.ts'
import { prepare } from '../runbooks/lib/ops/restore/plan.ts'
import { restoreNew } from '../runbooks/lib/ops/restore/new-cluster.ts'
import { query, pgBin, postmasterPid } from '../runbooks/lib/adapters/postgres.ts'
import { giveToSiteUser } from '../runbooks/lib/adapters/process.ts'
import { formatBytes } from '../core/duration.ts'

/** No dirty pages, and (as root) no page cache: each timed restore reads its input from disk. */
let cacheNote = 'from a cold page cache (sync; drop_caches)'
async function coldCache(): Promise<void> {
  await sh('sync')
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3')
  } catch {
    cacheNote =
      'after sync only: /proc/sys/vm/drop_caches is not writable here (not root), so both read what memory holds'
  }
}

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean' },
    reuse: { type: 'boolean' },
  },
})
const { site, audit } = await benchSite('backup', 27000, values.reuse)
process.stderr.write(`bench site in ${site.layout.stateDir} (scale ${values.scale})\n`)
await site.up({ scale: Number(values.scale) })
const primary = site.state().primary
const pport = String(site.port(primary))
const work = `${site.layout.stateDir}/../work`
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
giveToSiteUser(work)
const [dbBytes] = (
  await query<{ b: string }>(site.conn(primary), 'SELECT pg_database_size(current_database())::text AS b')
).map((r) => Number(r.b))

// -- full backup
await sh('sync')
const [, ours] = await timed(() => physicalBackup(site, 'full', [1]))
await sh('sync')
const [dumpGzip] = await timed(() =>
  sh(`${pgBin('pg_dump')} -h 127.0.0.1 -p "$1" -U postgres labdojo | gzip > "$2/dump.sql.gz"`, [pport, work]),
)
await sh('sync')
const [tarLz4] = await timed(() =>
  sh(`{ tar -C "$1" --warning=no-file-changed -cf - . || [ $? -eq 1 ]; } | lz4 -1 -q > "$2/data.tar.lz4"`, [
    site.layout.node(primary).data,
    work,
  ]),
)

// -- restore until the first accepted write: ours and cp -a + start, alternating, --runs times.
// Each timed step starts with no dirty pages left by the step before (sync) and, where this
// process may (root), a cold page cache: cp -a would otherwise read the directory our restore has
// just written from memory, and ours the repo (at scale 1 here cp -a + start took 1.3-1.7 s warm,
// 1.6-2.2 s cold: this disk reads 1.8 GiB/s); an incident's restore reads both from disk.
const latest = { target: { kind: 'latest' as const }, inPlace: false, dryRun: false }
const copyPort = site.layout.ports.scratchLast
const oursRuns: number[] = []
const cpRuns: number[] = []
let rep: Awaited<ReturnType<typeof restoreNew>> | undefined
for (let i = 0; i < Number(values.runs); i++) {
  await coldCache()
  const [t, [r, planSeconds]] = await timed(async () => {
    const [p, { plan }] = await timed(() => prepare(site, latest))
    return [await restoreNew(site, latest, plan, audit), p] as const
  })
  oursRuns.push(t)
  rep = { ...r, timings: { planSeconds, ...r.timings } }
  await site.pg.stop(r.dataDir!, 'fast')
  await coldCache()
  const [c] = await timed(() =>
    sh(
      `cp -a "$1" "$2/copy" && sync && ${pgBin('pg_ctl')} -D "$2/copy" -l "$2/copy.log" -w -o "-p $3 -c archive_mode=off -c unix_socket_directories=$4" start >/dev/null && ${pgBin('psql')} -X -q -h 127.0.0.1 -p "$3" -U postgres -d labdojo -c "SELECT txid_current()" >/dev/null`,
      [r.dataDir!, work, String(copyPort), site.layout.socketDir],
    ),
  )
  cpRuns.push(c)
  await site.pg.stop(`${work}/copy`, 'immediate')
  rmSync(`${work}/copy`, { recursive: true, force: true })
  rmSync(r.dataDir!, { recursive: true, force: true })
}
const oursRestore = median(oursRuns)
process.stderr.write(`restore runs ${cacheNote}\n`)
const cpStart = median(cpRuns)
await sh('sync')
const [gunzipPsql] = await timed(() =>
  sh(
    `${pgBin('createdb')} -h 127.0.0.1 -p "$1" -U postgres bench_restore && gunzip -c "$2/dump.sql.gz" | ${pgBin('psql')} -X -q -h 127.0.0.1 -p "$1" -U postgres -d bench_restore -v ON_ERROR_STOP=1 >/dev/null && ${pgBin('psql')} -X -q -h 127.0.0.1 -p "$1" -U postgres -d bench_restore -c "SELECT txid_current()" >/dev/null`,
    [pport, work],
  ),
)
await query(site.conn(primary, 'postgres'), 'DROP DATABASE bench_restore')

// -- PITR: some writes, a target, more writes, then restore to the target
await query(site.conn(primary), `UPDATE user_progress SET last_updated = now() WHERE id % 500 = 0`)
const [t] = await query<{ t: Date }>(site.conn(primary), 'SELECT clock_timestamp() AS t')
await query(site.conn(primary), `UPDATE user_progress SET last_updated = now() WHERE id % 500 = 1`)
await query(site.conn(primary, 'postgres'), 'SELECT pg_switch_wal()')
await new Promise((r) => setTimeout(r, 3000))
const pitrOpt = { target: { kind: 'time' as const, at: t!.t.getTime(), text: '' }, inPlace: false, dryRun: false }
await sh('sync')
const [pitr, [prep, pitrPlan]] = await timed(async () => {
  const { plan } = await prepare(site, pitrOpt)
  return [await restoreNew(site, pitrOpt, plan, audit), plan] as const
})
const [replayed] = await query<{ b: string }>(
  site.conn(primary, 'postgres'),
  'SELECT pg_wal_lsn_diff($1, $2)::bigint::text AS b',
  [prep.reached?.lsn ?? pitrPlan.backup.lsnStop, pitrPlan.backup.lsnStop],
)
if (postmasterPid(prep.dataDir!)) await site.pg.stop(prep.dataDir!, 'immediate')
rmSync(prep.dataDir!, { recursive: true, force: true })

// the disk's sequential read rate, measured here with O_DIRECT (no page cache), against replay's
const [readSeconds] = await timed(() =>
  sh(`dd if="$1/data.tar.lz4" of=/dev/null bs=4M iflag=direct status=none`, [work]),
)
const diskRead = statSync(`${work}/data.tar.lz4`).size / readSeconds
const replayRate = Number(replayed!.b) / (prep.timings.recoverySeconds ?? pitr)

// -- incremental after ~1% of rows change
await query(
  site.conn(primary),
  `UPDATE user_progress SET progress_data = progress_data || '{"bench": 1}' WHERE id % 100 = 7`,
  [],
  0,
)
await sh('sync')
const [incrTime, incr] = await timed(() => physicalBackup(site, 'incr', [1]))

const fullRec = ours[0]!
const rows: (string | number)[][] = [
  ['operation', 'ours (s)', 'baseline', 'baseline (s)', 'ratio', 'target'],
  [
    'full backup',
    fullRec.durationSeconds,
    'pg_dump | gzip',
    dumpGzip,
    `${(dumpGzip / fullRec.durationSeconds).toFixed(2)}x faster`,
    '',
  ],
  [
    'full backup',
    fullRec.durationSeconds,
    'tar | lz4 (limit)',
    tarLz4,
    `${(fullRec.durationSeconds / tarLz4).toFixed(2)}x of limit`,
    '<= 1.3x',
  ],
  [
    'restore to first write',
    oursRestore,
    'gunzip -c | psql',
    gunzipPsql,
    `${(gunzipPsql / oursRestore).toFixed(2)}x faster`,
    '>= 4x',
  ],
  [
    'restore to first write',
    oursRestore,
    'cp -a + start (limit)',
    cpStart,
    `${(oursRestore / cpStart).toFixed(2)}x of limit`,
    '<= 1.2x',
  ],
  ['PITR to first write', pitr, '-', 0, `${formatBytes(Number(replayed!.b))} of WAL replayed`, ''],
  [
    'PITR replay rate',
    `${formatBytes(replayRate)}/s`,
    'disk sequential read (O_DIRECT)',
    `${formatBytes(diskRead)}/s`,
    `${(replayRate / diskRead).toFixed(2)}x of the disk`,
    '',
  ],
  [
    'incr after 1% change',
    incrTime,
    '-',
    0,
    `${formatBytes(incr[0]!.copiedBytes)} copied, ${formatBytes(incr[0]!.storedBytes ?? 0)} stored of ${formatBytes(incr[0]!.sizeBytes)}`,
    '',
  ],
]
process.stdout.write(
  `\nrestore to first write, ${oursRuns.length} alternating runs ${cacheNote} (s): ours ${oursRuns.map((x) => x.toFixed(2)).join(' ')}; cp -a + start ${cpRuns.map((x) => x.toFixed(2)).join(' ')}\nlast restore breakdown (s): ${JSON.stringify(rep!.timings)}; PITR: ${JSON.stringify(prep.timings)}\n`,
)
process.stdout.write(
  `\nbackup/restore bench: database ${formatBytes(dbBytes!)}; dump.sql.gz ${formatBytes(statSync(`${work}/dump.sql.gz`).size)}, data.tar.lz4 ${formatBytes(statSync(`${work}/data.tar.lz4`).size)}, full backup stored ${formatBytes(fullRec.storedBytes ?? 0)}\n\n${table(rows)}\n`,
)
rmSync(work, { recursive: true, force: true })
if (!values.keep) {
  await site.down()
  site.purge()
}
