/**
 * The proof's cost, side by side in one run (default --scale 1, about 1 GB):
 *   fingerprint of every table (ours, parallel)  vs  pg_dump | md5sum of the same database
 *   proof of a repo1 backup just taken (verify.ts)  vs  a plain restore of it to the first write
 *   (the proof as it runs, its scratch restore unsynced, and as --synced runs it, for reference)
 * Targets (issue 11): fingerprint at least 2x faster than pg_dump | md5sum; a proof at most 2x
 * the plain restore.
 */
import { parseArgs } from 'node:util'
import { rmSync } from 'node:fs'
import { benchSite, median, sh, table, timed } from './lib.ts'
import { pgBin, query } from '../runbooks/lib/adapters/postgres.ts'
import { fingerprint } from '../runbooks/lib/ops/verify/fingerprint.ts'
import { prepare } from '../runbooks/lib/ops/restore/plan.ts'
import { restoreNew } from '../runbooks/lib/ops/restore/new-cluster.ts'
import { proveBackup } from '../runbooks/lib/ops/verify/prove.ts'
import { physicalBackup } from '../runbooks/lib/ops/backup/backup.ts'
import { readCatalogs } from '../runbooks/lib/ops/verify/verify.ts'
import { formatBytes } from '../core/duration.ts'

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    reuse: { type: 'boolean' },
  },
})
const runs = Number(values.runs)
const { site, audit } = await benchSite('verify', 27300, values.reuse)
process.stderr.write(`bench site in ${site.layout.stateDir} (scale ${values.scale})\n`)
await site.up({ scale: Number(values.scale) })
const primary = site.state().primary
const [{ b }] = (await query<{ b: string }>(
  site.conn(primary),
  'SELECT pg_database_size(current_database())::text AS b',
)) as [{ b: string }]

// -- fingerprint vs pg_dump | md5sum, alternating
const ours: number[] = []
const dump: number[] = []
for (let i = 0; i < runs; i++) {
  ours.push((await timed(() => fingerprint(site.conn(primary))))[0])
  const [t] = await timed(() =>
    sh(`${pgBin('pg_dump')} -h 127.0.0.1 -p "$1" -U postgres labdojo | md5sum >/dev/null`, [
      String(site.port(primary)),
    ]),
  )
  dump.push(t)
  process.stderr.write(
    `fingerprint run ${i + 1}/${runs}: ours ${ours.at(-1)!.toFixed(2)} s, pg_dump|md5sum ${t.toFixed(2)} s\n`,
  )
}

// -- proof vs plain restore of the same backup, alternating; the proof as it runs (its scratch
// restore unsynced: it is thrown away once read) and as --synced runs it (written durably).
// Each run proves and restores a backup just taken (an incremental into repo1): every run replays
// the same little WAL (the WAL past a backup is replayed by both, and it grew run by run when the
// runs reused one backup: the proof hides that replay behind its reference read, the plain
// restore cannot, so later runs flattered the proof). A proof right after its backup, as the
// scheduler runs it, is the case least favourable to the proof.
const proofs: number[] = []
const syncedProofs: number[] = []
const plain: number[] = []
const prove = async (synced: boolean) => {
  const [catalog] = await readCatalogs(site, [1])
  const backup = catalog!.backups.filter((x) => !x.error).at(-1)!
  await sh('sync') // the previous run's writes reach the disk before this one is timed
  const [t, proof] = await timed(() =>
    proveBackup(site, backup, catalog!.latest ?? null, { keep: false, synced }, audit),
  )
  if (proof.verdict !== 'proven') throw new Error(`the proof failed: ${proof.reason}`)
  return [t, proof] as const
}
const timings = (p: { timings: Record<string, number> }) =>
  Object.entries(p.timings)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')
for (let i = 0; i < runs; i++) {
  await physicalBackup(site, 'incr', [1])
  const opts = { target: { kind: 'latest' as const }, repo: 1, inPlace: false, dryRun: false }
  await sh('sync')
  const [tr, rep] = await timed(async () => restoreNew(site, opts, (await prepare(site, opts)).plan, audit))
  plain.push(tr)
  await site.pg.stop(rep.dataDir!, 'immediate')
  rmSync(rep.dataDir!, { recursive: true, force: true })
  const [tp, proof] = await prove(false)
  proofs.push(tp)
  const [ts, synced] = await prove(true)
  syncedProofs.push(ts)
  process.stderr.write(
    `proof run ${i + 1}/${runs}: proof ${tp.toFixed(2)} s (${timings(proof)}); --synced ${ts.toFixed(2)} s (${timings(synced)}); plain restore to first write ${tr.toFixed(2)} s (${timings(rep)}): ${(tp / tr).toFixed(2)}x, --synced ${(ts / tr).toFixed(2)}x\n`,
  )
}

const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x`
const byRun = (a: number[]) =>
  `${a.map((p, i) => `${(p / plain[i]!).toFixed(2)}x`).join(', ')} (median ${median(a.map((p, i) => p / plain[i]!)).toFixed(2)}x)`
process.stdout.write(
  `\nverify bench: database ${formatBytes(Number(b))}, ${runs} runs each, medians\n\n${table([
    ['measure', 'ours (s)', 'baseline (s)', 'ratio', 'target'],
    ['fingerprint vs pg_dump | md5sum', median(ours), median(dump), ratio(dump, ours) + ' faster', '>= 2x faster'],
    ['proof vs plain restore to first write', median(proofs), median(plain), ratio(proofs, plain), '<= 2x'],
    ['proof --synced vs the same', median(syncedProofs), median(plain), ratio(syncedProofs, plain), '(for reference)'],
  ])}\n\nproof / plain restore, run by run: ${byRun(proofs)}\nproof --synced / plain restore, run by run: ${byRun(syncedProofs)}\n`,
)
