/**
 * Failover RTO: from the primary's death (kill -9) to the first write acknowledged through the
 * endpoint, over N runs, with the default detection settings; side by side with the bare
 * `pg_ctl promote` of the same standby (no detection, no fencing, no endpoint switch).
 */
import { parseArgs } from 'node:util'
import { benchSite, median, table } from './lib.ts'
import { startWriter, stopWriter, acked, lostCommits } from '../runbooks/lib/sites/local/workload.ts'
import { failover } from '../runbooks/lib/ops/failover/failover.ts'
import { rejoin } from '../runbooks/lib/ops/failback/rejoin.ts'
import { killPrimary } from '../runbooks/lib/ops/drill/failover-drill.ts'
import { probe, query } from '../runbooks/lib/adapters/postgres.ts'
import { waitFor } from '../runbooks/lib/adapters/process.ts'
import type { NodeName } from '../runbooks/lib/sites/local/layout.ts'

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '10' }, keep: { type: 'boolean' }, 'no-bare': { type: 'boolean' } },
})
const runs = Number(values.runs)
const { site, audit } = await benchSite('failover', 27100)
await site.up({ scale: 0.01 })
const writer = await startWriter(site.layout, 200)
const ours: number[] = []
const bare: number[] = []
try {
  for (let i = 0; i < runs; i++) {
    // ours: detection + fence + promote + endpoint switch, as the writer sees it
    const from = site.state().primary
    const killed = await killPrimary(site, from)
    const rep = await failover(
      site,
      { to: 'hot', dryRun: false, acceptDataLoss: false, switchover: false, automatic: false },
      audit,
      async () => {},
    )
    const first = await waitFor(
      'first ack on the new primary',
      async () => acked(site.layout, writer).find((a) => a.at > killed && a.port === site.port(rep.to)),
      60_000,
      5,
    )
    ours.push((first.at - killed) / 1000)
    await rejoin(site, from, audit)
    if (values['no-bare']) {
      process.stderr.write(`run ${i + 1}/${runs}: ours ${ours.at(-1)!.toFixed(2)} s\n`)
      continue
    }

    // bare: kill -9, pg_ctl promote the streaming standby, first write straight to it
    const p = site.state().primary
    const hot = Object.entries(site.state().roles).find(([, r]) => r === 'hot')![0] as NodeName
    const t0 = performance.now()
    await killPrimary(site, p)
    await site.pg.promote(site.layout.node(hot).data)
    await query(site.conn(hot), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('bare', $1, 'x')`, [
      Date.now(),
    ])
    bare.push((performance.now() - t0) / 1000)
    // put the site back: the promoted standby is the primary now, the old one rejoins
    const s = site.state()
    s.primary = hot
    s.roles[hot] = 'primary'
    s.roles[p] = 'fenced'
    s.timeline = (await probe(hot, site.conn(hot, 'postgres'))).timeline
    site.saveState(s)
    site.writeBackrestConf(s)
    await site.routeEndpoint(hot)
    await rejoin(site, p, audit)
    process.stderr.write(
      `run ${i + 1}/${runs}: ours ${ours.at(-1)!.toFixed(2)} s, bare promote ${bare.at(-1)!.toFixed(2)} s\n`,
    )
  }
} finally {
  await stopWriter(site.layout)
}
const acks = acked(site.layout, writer)
const lost = await lostCommits(site.endpointConn(), acks)
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)]!
const d = site.policy.detection
process.stdout.write(
  `\nfailover bench: ${runs} runs, detection ${d.failureThreshold} probes every ${d.probeInterval * 1000} ms (timeout ${d.probeTimeout * 1000} ms), synchronous replication, writer at 200 commits/s\n\n${table(
    [
      ['measure', 'median (s)', 'p99 (s)', 'max (s)', 'target'],
      [
        'ours: kill -9 -> first write through the endpoint',
        median(ours),
        p99(ours),
        Math.max(...ours),
        'median <= 3 s',
      ],
      ...(bare.length
        ? [
            [
              'bare pg_ctl promote -> first write to the standby',
              median(bare),
              p99(bare),
              Math.max(...bare),
              '(no detection, fencing, switch)',
            ],
            ['ratio ours / bare (medians)', median(ours) / median(bare), 0, 0, ''],
          ]
        : [['(bare promote not run: --no-bare)', '-', '-', '-', '']]),
    ],
  )}\n\nacknowledged commits: ${acks.length}, lost: ${lost.length} (target 0)\n`,
)
if (!values.keep) {
  await site.down()
  site.purge()
}
