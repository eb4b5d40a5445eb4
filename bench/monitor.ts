/**
 * The exporter's cost (issue 12), on a bench site (default --scale 1) with the workload running:
 *   200 scrapes of /metrics, back to back: latency median / p99 (target p99 < 50 ms)
 *   the exporter's own CPU at the policy's 15 s scrape interval over --seconds (target < 2% of a core)
 * Side by side: a scrape against the cost of reading the same facts directly (status + catalog).
 */
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { benchSite, median, table, timed } from './lib.ts'
import { startWriter, stopWriter } from '../runbooks/lib/sites/local/workload.ts'
import { startDetached, stopPid, waitFor, sleep } from '../runbooks/lib/adapters/process.ts'
import { buildCatalog } from '../runbooks/lib/ops/catalog/report.ts'

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    scrapes: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '120' },
    reuse: { type: 'boolean' },
  },
})
const { site } = await benchSite('monitor', 27500, values.reuse)
process.stderr.write(`bench site in ${site.layout.stateDir} (scale ${values.scale})\n`)
await site.up({ scale: Number(values.scale) })
const writer = await startWriter(site.layout, 50)
const port = site.layout.ports.exporter
const TSX = createRequire(import.meta.url).resolve('tsx')
const pid = startDetached(process.execPath, ['--import', TSX, 'runbooks/monitor.ts', '--port', String(port)], {
  log: '/tmp/labdojo-bench-exporter.log',
  pidFile: '/tmp/labdojo-bench-exporter.pid',
  env: { LABDOJO_STATE_DIR: site.layout.stateDir, LABDOJO_BASE_PORT: String(site.layout.basePort) },
})
const url = `http://127.0.0.1:${port}/metrics`
await waitFor('the exporter', async () => (await fetch(url)).ok, 120_000, 200)

const cpuSeconds = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, in clock ticks of 1/100 s
}
try {
  const lat: number[] = []
  for (let i = 0; i < Number(values.scrapes); i++)
    lat.push((await timed(async () => (await fetch(url)).text()))[0] * 1000)
  lat.sort((a, b) => a - b)
  const p99 = lat[Math.ceil(lat.length * 0.99) - 1]!
  const [direct] = await timed(async () => Promise.all([site.status(), buildCatalog(site)]))

  // CPU at a 15 s scrape interval: the exporter's background reads plus one scrape every 15 s
  const c0 = cpuSeconds()
  const t0 = Date.now()
  while (Date.now() - t0 < Number(values.seconds) * 1000) {
    await fetch(url).then((r) => r.text())
    await sleep(15_000)
  }
  const cpu = ((cpuSeconds() - c0) / ((Date.now() - t0) / 1000)) * 100
  process.stdout.write(
    `\nexporter bench: ${lat.length} scrapes under a 50 commits/s workload; CPU over ${values.seconds} s at a 15 s scrape interval\n\n${table(
      [
        ['measure', 'ours', 'baseline', 'target'],
        [
          'scrape latency median (ms)',
          median(lat).toFixed(1),
          `reading status + catalog directly: ${(direct * 1000).toFixed(0)} ms`,
          '',
        ],
        ['scrape latency p99 (ms)', p99.toFixed(1), '', '< 50 ms'],
        ['exporter CPU (% of one core)', cpu.toFixed(2), '', '< 2%'],
      ],
    )}\n`,
  )
} finally {
  await stopPid(pid, 'monitor.ts')
  await stopWriter(site.layout)
  void writer
}
