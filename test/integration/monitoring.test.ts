/**
 * Monitoring end to end, all real and all on 127.0.0.1: `local.ts up --monitoring` runs the DR
 * exporter, Prometheus (the rules generated from the policy, shortened intervals by policy
 * override) and Alertmanager (routes from the communication plan) delivering to a local
 * Slack-compatible webhook receiver. Things are broken for real — the hot standby killed, repo
 * 2's S3 server stopped, archiving stopped, the newest backup left to age past a shortened
 * threshold — and the right alert must reach the right person with the right severity, escalate
 * to the next one when left alone, and resolve when the fault is fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, runbook, testSite, type TestSite } from '../helpers/site.ts'
import { WebhookReceiver, type Received } from '../../runbooks/lib/adapters/webhook-receiver.ts'
import { Postgres, query } from '../../runbooks/lib/adapters/postgres.ts'
import { pidAlive, readPid, stopByPidFile, waitFor } from '../../runbooks/lib/adapters/process.ts'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('monitoring')
const BACKUP_MAX_AGE = 100
let t: TestSite
let dir: string
let receiver: WebhookReceiver
const policy = loadPolicy(ROOT, 'local')
const [first, second] = policy.communication.notificationOrder as [string, string]
const node = (n: number, db = 'postgres') => ({ host: '127.0.0.1', port: BASE + n, database: db })
const timings: string[] = []

beforeAll(async () => {
  receiver = await WebhookReceiver.start()
  dir = mkdtempSync('/var/tmp/labdojo-mon-')
  const yaml = readFileSync(join(ROOT, 'Pulumi.yaml'), 'utf8').replace(
    /\n {6}monitoring:\n[\s\S]*?\n(?= {6}[a-z]\w*:)/,
    `
      monitoring:
        scrapeInterval: 1s
        evaluationInterval: 1s
        catalogRefresh: 2s
        backupMaxAge: ${BACKUP_MAX_AGE}s
        storageFullPercent: 85
        storageGrowthPercent: 20
        alerting:
          backupFailure: { severity: critical, notify: 0s, escalate: 15s }
          storageFull: { severity: warning, notify: 0s, escalate: 1h }
          recoveryTestFailure: { severity: high, notify: 0s, escalate: 1h }
`,
  )
  expect(yaml).toContain('escalate: 15s')
  writeFileSync(join(dir, 'Pulumi.yaml'), yaml)
  const hooks = join(dir, 'webhooks.json')
  writeFileSync(hooks, JSON.stringify({ [first]: receiver.url(first), [second]: receiver.url(second) }), {
    mode: 0o600,
  })
  t = testSite(BASE)
  Object.assign(t.env, { LABDOJO_PROJECT_DIR: dir, LABDOJO_WEBHOOKS_FILE: hooks })
  const up = await runbook('local', ['up', '--scale', '0.002', '--monitoring'], t.env)
  expect(up.code, up.stderr).toBe(0)
})

afterAll(async () => {
  console.log(`monitoring, fault to webhook: ${timings.join('; ')}`)
  await t?.cleanup()
  await receiver?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

interface Message {
  recipient: string
  title: string
  text: string
  at: number
}

const messages = (): Message[] =>
  receiver.received.map((r: Received) => {
    const body = JSON.parse(r.body) as { attachments?: { title?: string; text?: string }[] }
    const a = body.attachments?.[0] ?? {}
    return { recipient: decodeURIComponent(r.path.slice(1)), title: a.title ?? '', text: a.text ?? '', at: r.at }
  })

/** The first message to `recipient` about `alert` in `state` that arrived after `since`. */
function awaitMessage(recipient: string, alert: string, state: 'FIRING' | 'RESOLVED', since: number): Promise<Message> {
  return waitFor(
    `a ${state} ${alert} message to ${recipient}`,
    async () =>
      messages().find((m) => m.at >= since && m.recipient === recipient && m.title.startsWith(`[${state}] ${alert} `)),
    300_000,
    200,
  )
}

async function fault<T>(
  name: string,
  alert: string,
  brk: () => Promise<T>,
  fix: () => Promise<unknown>,
): Promise<Message> {
  const t0 = Date.now()
  await brk()
  const fired = await awaitMessage(first, alert, 'FIRING', t0)
  timings.push(`${name} ${((fired.at - t0) / 1000).toFixed(1)} s`)
  const t1 = Date.now()
  await fix()
  await awaitMessage(first, alert, 'RESOLVED', t1)
  return fired
}

describe('local.ts up --monitoring', () => {
  it('runs the exporter, Prometheus and Alertmanager by pid; Prometheus scrapes the site and holds every rule', async () => {
    const m = join(t.stateDir, 'monitoring')
    for (const [f, cmd] of [
      ['exporter.pid', 'monitor.ts'],
      ['prometheus.pid', 'prometheus'],
      ['alertmanager.pid', 'prometheus-alertmanager'],
    ])
      expect(pidAlive(readPid(join(m, f!)), cmd)).toBe(true)
    const up = await waitFor(
      'Prometheus to scrape the exporter',
      async () => {
        const r: any = await (await fetch(`http://127.0.0.1:${BASE + 6}/api/v1/query?query=labdojo_site_up`)).json()
        return r.data.result[0]?.value[1] === '1' && r
      },
      60_000,
      500,
    )
    expect(up).toBeTruthy()
    const rules: any = await (await fetch(`http://127.0.0.1:${BASE + 6}/api/v1/rules`)).json()
    expect(rules.data.groups[0].rules.every((r: { health: string }) => r.health === 'ok')).toBe(true)
    // nothing leaves 127.0.0.1: every listener of the stack is on the loopback
    const cfg = readFileSync(join(m, 'prometheus.yml'), 'utf8') + readFileSync(join(m, 'alertmanager.yml'), 'utf8')
    expect(cfg).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/)
    expect(cfg).not.toContain(receiver.url(first)) // webhook URLs are secrets, read from 0600 files
  })

  it('[fault] the hot standby killed: critical alert to the first person, escalated to the next when left alone, resolved when it is back', async () => {
    const t0 = Date.now()
    const fired = await fault(
      'hot standby killed',
      'LabdojoHotStandbyDown',
      () => new Postgres(run).stop(join(t.stateDir, 'nodes', 'node2', 'data'), 'immediate'),
      async () => {
        // left alone past the escalation delay, the next person in the order is told
        await awaitMessage(second, 'LabdojoHotStandbyDown', 'FIRING', t0)
        expect((await runbook('local', ['up'], t.env)).code).toBe(0)
      },
    )
    expect(fired.title).toBe('[FIRING] LabdojoHotStandbyDown (critical)')
    expect(fired.text).toMatch(/hot standby node2 is down.*Runbook: https:\/\/\S+README\.md#alerts/)
  })

  it("repo 2's S3 server stopped: repo 2 unreachable, resolved when up restarts it", async () => {
    await fault(
      'S3 stopped',
      'LabdojoRepoUnreachable',
      () => stopByPidFile(join(t.stateDir, 's3', 's3rver.pid'), 's3rver'),
      async () => expect((await runbook('local', ['up'], t.env)).code).toBe(0),
    )
  })

  it('archiving stopped: archiving-failing alert, resolved when archiving works again', async () => {
    const primary = node(1)
    await fault(
      'archiving stopped',
      'LabdojoArchivingFailing',
      async () => {
        await query(primary, `ALTER SYSTEM SET archive_command = '/bin/false'`)
        await query(primary, 'SELECT pg_reload_conf()')
        await new Promise((r) => setTimeout(r, 500))
        await query(node(1, 'labdojo'), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('mon', 1, 'x')`)
        await query(primary, 'SELECT pg_switch_wal()')
      },
      async () => {
        await query(primary, 'ALTER SYSTEM RESET archive_command')
        await query(primary, 'SELECT pg_reload_conf()')
      },
    )
  })

  it('the newest backup older than the (shortened) threshold: alert, shown by status; a backup resolves it', async () => {
    const t0 = Date.now()
    await awaitMessage(first, 'LabdojoBackupTooOld', 'FIRING', 0)
    const st = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)
    expect(st.alerts.map((a: { name: string }) => a.name)).toContain('LabdojoBackupTooOld')
    const text = (await runbook('local', ['status'], t.env)).stdout
    expect(text).toMatch(/CRITICAL +LabdojoBackupTooOld: The newest backup in repo \d is older than/)
    expect((await runbook('backup', ['--type', 'full'], t.env)).code).toBe(0)
    await awaitMessage(first, 'LabdojoBackupTooOld', 'RESOLVED', t0)
  })

  it('down stops all three by pid', async () => {
    const m = join(t.stateDir, 'monitoring')
    const pids = ['exporter.pid', 'prometheus.pid', 'alertmanager.pid'].map((f) => readPid(join(m, f)))
    const down = await runbook('local', ['down'], t.env)
    expect(down.code).toBe(0)
    for (const pid of pids) expect(pidAlive(pid)).toBe(false)
  })
})
