/**
 * Failover of a cloud stack, end to end, with only the cloud boundary simulated: real PostgreSQL
 * nodes stand in for the PGO clusters, a local HTTP receiver for Route53 (it repoints the real
 * PgBouncer endpoint, as DNS would), and a `kubectl` on PATH that promotes the standby as PGO does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, writeFileSync, chmodSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { testSite, runbook, json, type TestSite, localSiteOf } from '../helpers/site.ts'
import { LocalSite } from '../../runbooks/lib/sites/local/site.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { query } from '../../runbooks/lib/adapters/postgres.ts'
import { killPrimary } from '../../runbooks/lib/ops/drill/failover-drill.ts'
import { waitFor } from '../../runbooks/lib/adapters/process.ts'
import { ROOT } from '../helpers/site.ts'
import { WebhookReceiver } from '../../runbooks/lib/adapters/webhook-receiver.ts'
import { cloudInventory } from '../helpers/cloud-inventory.ts'
import { readEvidence, verifyChain } from '../../runbooks/lib/output/evidence.ts'
import { parseInventory } from '../../core/inventory.ts'
import { verifyCloudWrite } from '../../runbooks/lib/ops/failover/cloud-failover.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('cloud-failover')
let t: TestSite
let site: LocalSite
let receiver: Server
let people: WebhookReceiver
// CloudWatch's stand-in: the PrimaryUp alarm, the distributed observer a --watch asks
let observer: Server
let alarm = 'OK'
const changes: string[] = []
let dir = ''
let env: Record<string, string> = {}

beforeAll(async () => {
  t = testSite(BASE)
  expect((await runbook('local', ['up', '--scale', '0.002'], t.env)).code).toBe(0)
  site = localSiteOf(t)
  receiver = createServer((req, res) => {
    let b = ''
    req.on('data', (d) => (b += d))
    req.on('end', async () => {
      changes.push(b)
      await site.routeEndpoint('node2') // what the DNS change does for clients
      res.end(
        '<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/CTEST</Id></ChangeInfo></ChangeResourceRecordSetsResponse>',
      )
    })
  }).listen(BASE + 50, '127.0.0.1')
  observer = createServer((req, res) => {
    req.resume()
    req.on('end', () =>
      res.end(
        `<DescribeAlarmsResponse><DescribeAlarmsResult><MetricAlarms><member><AlarmName>db-primary-up</AlarmName><StateValue>${alarm}</StateValue></member></MetricAlarms></DescribeAlarmsResult></DescribeAlarmsResponse>`,
      ),
    )
  }).listen(BASE + 51, '127.0.0.1')
  dir = mkdtempSync('/tmp/labdojo-cloud-')
  // the primary's region is gone: its cluster API does not answer (PGO's shutdown cannot reach it)
  writeFileSync(
    join(dir, 'kubectl'),
    `#!/bin/sh\necho "$@" >> "${dir}/kubectl.calls"\ncase "$*" in *ctx-primary*) echo 'Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout' >&2; exit 1;; esac\ncase "$*" in *" get "*) echo '{"metadata":{"name":"labdojo","namespace":"labdojo"},"spec":{"standby":{"enabled":true}}}'; exit 0;; esac\nif [ -e "${dir}/kubectl.fail" ]; then echo 'error: the server is currently unable to handle the request' >&2; exit 1; fi\nexec runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "${site.layout.node('node2').data}" -w promote >/dev/null\n`,
  )
  chmodSync(join(dir, 'kubectl'), 0o755)
  writeFileSync(
    join(dir, 'prod.json'),
    JSON.stringify(
      cloudInventory({
        nodes: [
          { name: 'primary', site: 'primary', role: 'primary', port: BASE + 1, kubeContext: 'ctx-primary' },
          { name: 'hot', site: 'hot', role: 'standby', port: BASE + 2, kubeContext: 'ctx-hot' },
        ],
        repos: [{ index: 1, type: 's3', path: '/pgbackrest', encrypted: true, site: 'primary' }],
        endpointPort: BASE,
        endpoint: { observer: { alarmName: 'db-primary-up', region: 'us-west-2' } },
      }),
    ),
  )
  // the communication plan's channels: a local receiver, the URLs in a 0600 file (secrets)
  people = await WebhookReceiver.start()
  const order = loadPolicy(ROOT, 'local').communication.notificationOrder
  writeFileSync(join(dir, 'webhooks.json'), JSON.stringify(Object.fromEntries(order.map((r) => [r, people.url(r)]))), {
    mode: 0o600,
  })
  env = {
    ...t.env,
    LABDOJO_WEBHOOKS_FILE: join(dir, 'webhooks.json'),
    PATH: `${dir}:${process.env.PATH}`,
    LABDOJO_ROUTE53_ENDPOINT: `http://127.0.0.1:${BASE + 50}`,
    LABDOJO_CLOUDWATCH_ENDPOINT: `http://127.0.0.1:${BASE + 51}`,
    AWS_ACCESS_KEY_ID: 'AKIATEST',
    AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-key',
  }
})
afterAll(async () => {
  receiver?.close()
  observer?.close()
  await people?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  await t?.cleanup()
})

describe('failover of a cloud stack (prod) from its inventory', () => {
  it('refuses while the primary is healthy, without touching DNS or the cluster', async () => {
    const r = await runbook('failover', ['--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--yes'], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/refusing: primary primary is healthy/)
    expect(changes).toEqual([])
    expect(existsSync(join(dir, 'kubectl.calls'))).toBe(false)
    expect(people.received).toEqual([]) // a refusal is not a failure: nobody is paged
  })

  it('a promotion that fails tells the first person of the plan at once, and says what is left (exit 1)', async () => {
    // the primary was taking writes: the hot cluster has replayed a commit it can date
    await query(site.conn('node1'), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('before-kill', 1, 'x')`)
    await waitFor(
      'hot to replay a commit',
      async () => {
        const [h] = await query<{ ts: Date | null }>(
          site.conn('node2', 'postgres'),
          'SELECT pg_last_xact_replay_timestamp() AS ts',
        )
        return h!.ts !== null
      },
      30_000,
    )
    await killPrimary(site, 'node1')
    writeFileSync(join(dir, 'kubectl.fail'), '')
    try {
      const r = await runbook('failover', ['--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--yes'], env)
      expect(r.code, r.stderr).toBe(1)
      // what is done, where it failed, and how to finish
      expect(r.stderr).toMatch(/steps done: .*fence \+ switch DNS/)
      expect(r.stderr).toMatch(/failed in: promote hot/)
      expect(r.stderr).toMatch(/to finish: DNS already names hot.*Re-run the same failover.ts command/)
    } finally {
      rmSync(join(dir, 'kubectl.fail'))
    }
    const order = loadPolicy(ROOT, 'local').communication.notificationOrder
    expect(people.received.map((m) => decodeURIComponent(m.path.slice(1)))).toEqual([order[0]])
    expect(JSON.parse(people.received[0]!.body).text).toMatch(
      /^\[FAILED\] failover of stack prod to hot: .*unable to handle/,
    )
    changes.length = 0
    rmSync(join(dir, 'kubectl.calls'))
  })

  it('--watch: this watcher sees the primary dead, the distributed observer does not (a partition): it holds, says so, promotes nothing', async () => {
    alarm = 'OK'
    const r = await runbook(
      'failover',
      ['--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--watch', '--max-seconds', '6'],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(
      /the distributed observer still sees it answer as a primary \(alarm db-primary-up in us-west-2: OK\).*no failover/,
    )
    expect(r.stderr).toMatch(/watch ended: no failover/)
    expect(existsSync(join(dir, 'kubectl.calls'))).toBe(false)
    expect(changes).toEqual([])
    expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).toContain('watch decision: hold')
  })

  it('--watch, when the observer agrees the primary is down: switches the Route53 record, tries to shut the old primary down, promotes, verifies a write through the endpoint, tells the plan in order', async () => {
    people.received.length = 0
    alarm = 'ALARM'
    // and a Ctrl-C as DNS switches: stopping there would leave clients on a read-only standby, so
    // the failover is finished first (a promoted hot site that took a write), then it stops
    const run = await runbook(
      'failover',
      ['--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--watch', '--json'],
      {
        ...env,
        LABDOJO_FAULT_SIGNAL_AT: 'fence + switch DNS',
      },
    )
    expect(run.stderr).toMatch(/SIGINT came during the failover: it was finished first/)
    const r = json(run)
    expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).toContain('watch decision: fail over')
    // the old primary's cluster API does not answer: said plainly, DNS is the fence
    expect(r.fence).toMatch(/^NOT shut down: .*i\/o timeout/)
    expect([r.from, r.to, r.dnsChange]).toEqual(['primary', 'hot', '/change/CTEST'])
    // the hot site is a standby cluster, asynchronous across regions: the window is the observed
    // bound (what hot replayed against the primary's last answer), never a zero taken from settings
    expect(r.lossBasis).toMatch(/hot holds everything up to .*before the primary's last answer/)
    expect(r.lossWindowSeconds).toBeLessThan(900)
    expect(changes[0]).toMatch(
      /<Action>UPSERT<\/Action>[\s\S]*<Name>db.labdojo.test<\/Name>[\s\S]*<Failover>PRIMARY<\/Failover>[\s\S]*<Value>127.0.0.1<\/Value>/,
    )
    expect(readFileSync(join(dir, 'kubectl.calls'), 'utf8').trim().split('\n')).toEqual([
      `--context ctx-primary -n labdojo patch postgrescluster labdojo --type merge -p {"spec":{"shutdown":true}}`,
      // the promotion reads the cluster first (its replay-only repos leave in the same patch: none here)
      `--context ctx-hot -n labdojo get postgrescluster labdojo -o json`,
      `--context ctx-hot -n labdojo patch postgrescluster labdojo --type merge -p {"spec":{"standby":{"enabled":false}}}`,
    ])
    const [w] = await query<{ p: number }>(
      { host: '127.0.0.1', port: BASE, database: 'labdojo' },
      `SELECT inet_server_port() AS p FROM labdojo_dr_write_checks WHERE note LIKE 'failover prod -> hot [%]' LIMIT 1`,
    )
    expect(w!.p).toBe(BASE + 2)
    expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain('not-a-real-secret-key')
    // everyone in the communication plan, in its order, with the measured facts
    const order = loadPolicy(ROOT, 'local').communication.notificationOrder
    expect(people.received.map((m) => decodeURIComponent(m.path.slice(1)))).toEqual(order)
    expect(JSON.parse(people.received[0]!.body).text).toMatch(
      /^\[labdojo-dr prod\] failover primary -> hot: traffic restored, measured RTO .*; data-loss window .* \(hot holds everything/,
    )
    expect(r.notified.map((n: any) => n.ok)).toEqual(order.map(() => true))
    // the URLs are secrets: never in the report or the audit log
    expect(JSON.stringify(r) + readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain(`:${people.port}/`)
  })

  it("records every cloud failover, failed or done, in the stack's hash-chained evidence ledger", () => {
    const file = join(dirname(t.env.LABDOJO_AUDIT_LOG!), 'prod-evidence.jsonl')
    expect(verifyChain(file)).toMatchObject({ ok: true, entries: 2 })
    const [failed, done] = readEvidence(file) as any[]
    expect(failed).toMatchObject({ kind: 'failover', verdict: 'failed' })
    expect(failed.error).toMatch(/kubectl --context ctx-hot .*patch postgrescluster labdojo/)
    expect(done).toMatchObject({ kind: 'failover', verdict: 'ok', from: 'primary', to: 'hot', mode: 'failover' })
    expect(done.lossBasis).toMatch(/hot holds everything/)
  })

  it('the write check reads the write back on the candidate: an endpoint that still leads to a writable old primary fails it, naming both', async () => {
    // the old primary comes back where clients can still reach it: two servers take writes
    const old = site.layout.node('node1')
    await site.pg.start(old.data, old.log, "-c synchronous_standby_names=''")
    const inv = parseInventory(JSON.parse(readFileSync(join(dir, 'prod.json'), 'utf8')).inventory, 'prod.json')
    const hot = inv.nodes.find((n) => n.name === 'hot')!
    try {
      await expect(verifyCloudWrite({ ...inv, endpoint: { ...inv.endpoint, port: BASE + 1 } }, hot)).rejects.toThrow(
        /a write through 127\.0\.0\.1:\d+ was committed, but not on hot \(127\.0\.0\.1:\d+\): another server behind that address takes writes/,
      )
      // through the endpoint, which leads to the promoted hot site, it holds
      await expect(verifyCloudWrite(inv, hot)).resolves.toBe(true)
    } finally {
      await site.pg.stop(old.data, 'immediate')
    }
  })
})
