/**
 * The proof's cost, side by side in one run (default --scale 1, about 1 GB):
 *   fingerprint of every table (ours, parallel)  vs  pg_dump | md5sum of the same database
 *   proof of the newest repo1 backup (verify.ts)  vs  a plain restore of it to the first write
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

// -- proof vs plain restore of the same backup, alternating
const proofs: number[] = []
const plain: number[] = []
for (let i = 0; i < runs; i++) {
  const [catalog] = await readCatalogs(site, [1])
  const backup = catalog!.backups.filter((x) => !x.error).at(-1)!
  await sh('sync') // the previous run's writes reach the disk before this one is timed
  const [tp, proof] = await timed(() => proveBackup(site, backup, catalog!.latest ?? null, { keep: false }, audit))
  if (proof.verdict !== 'proven') throw new Error(`the proof failed: ${proof.reason}`)
  proofs.push(tp)
  const opts = { target: { kind: 'latest' as const }, repo: 1, inPlace: false, dryRun: false }
  await sh('sync')
  const [tr, rep] = await timed(async () => restoreNew(site, opts, (await prepare(site, opts)).plan, audit))
  plain.push(tr)
  await site.pg.stop(rep.dataDir!, 'immediate')
  rmSync(rep.dataDir!, { recursive: true, force: true })
  process.stderr.write(
    `proof run ${i + 1}/${runs}: proof ${tp.toFixed(2)} s (${Object.entries(proof.timings)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')}), plain restore to first write ${tr.toFixed(2)} s: ${(tp / tr).toFixed(2)}x\n`,
  )
}

const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x`
process.stdout.write(
  `\nverify bench: database ${formatBytes(Number(b))}, ${runs} runs each, medians\n\n${table([
    ['measure', 'ours (s)', 'baseline (s)', 'ratio', 'target'],
    ['fingerprint vs pg_dump | md5sum', median(ours), median(dump), ratio(dump, ours) + ' faster', '>= 2x faster'],
    ['proof vs plain restore to first write', median(proofs), median(plain), ratio(proofs, plain), '<= 2x'],
  ])}\n\nproof / plain restore, run by run: ${proofs.map((p, i) => `${(p / plain[i]!).toFixed(2)}x`).join(', ')} (median ${median(proofs.map((p, i) => p / plain[i]!)).toFixed(2)}x)\n`,
)
