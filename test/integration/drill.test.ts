/**
 * The drill at the guide's levels, on a real local site: the annual level runs everything
 * (proofs of every repo's newest backup, PITR after a human error, failover to hot and back,
 * a manual failover to warm and back, the communication plan through a local receiver, a
 * cold-site rebuild from repo 2 alone, the compliance report), leaves the site as it found it,
 * records itself in the evidence ledger; its report opens in a real Chromium with no console
 * error and no request leaving the file. A missed objective exits 1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { ROOT, runbook, testSite, type TestSite } from '../helpers/site.ts'
import { WebhookReceiver } from '../../runbooks/lib/adapters/webhook-receiver.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('drill')
const ARTIFACTS = join(ROOT, 'test-artifacts')
const policy = loadPolicy(ROOT, 'local')

let t: TestSite
let receiver: WebhookReceiver
let outDir: string

beforeAll(async () => {
  t = testSite(BASE)
  receiver = await WebhookReceiver.start()
  outDir = mkdtempSync('/var/tmp/labdojo-report-')
  const hooks = join(outDir, 'webhooks.json')
  const urls = Object.fromEntries(policy.communication.notificationOrder.map((r) => [r, receiver.url(r)]))
  writeFileSync(hooks, JSON.stringify(urls), { mode: 0o600 })
  t.env.LABDOJO_WEBHOOKS_FILE = hooks
  expect((await runbook('local', ['up', '--scale', '0.002'], t.env)).code).toBe(0)
})

afterAll(async () => {
  await receiver?.close()
  await t?.cleanup()
  if (outDir) rmSync(outDir, { recursive: true, force: true })
})

describe('npm run drill -- --level annual', () => {
  let r: any
  it('runs every part of the annual level, passes each objective with numbers, and leaves the roles as they were', async () => {
    const res = await runbook('drill', ['--level', 'annual', '--rate', '40', '--out', outDir, '--json'], t.env)
    r = JSON.parse(res.stdout)
    expect(res.code, JSON.stringify({ error: r.details?.error, verdict: r.verdict, steps: r.steps })).toBe(0)
    expect(r.level).toBe('annual')
    const steps = r.steps.map((s: any) => s.name)
    for (const part of [
      'prove the newest backup in every repo',
      'human error, then PITR to just before it',
      'fail over under workload (kill -9 of the primary)',
      'manual failover to the warm site and back',
      'communication plan: a test message to every channel in order',
      'cold site: rebuild from repo 2 alone',
      'compliance report',
    ])
      expect(steps).toContain(part)
    expect(r.objectives.map((o: any) => o.name)).toEqual(
      expect.arrayContaining([
        'tier 1 (critical)',
        'tier 2 (important)',
        'tier 3 (standard)',
        'hot site',
        'warm site',
        'cold site',
      ]),
    )
    expect(r.objectives.every((o: any) => o.ok && Number.isFinite(o.worstRto.seconds))).toBe(true)
    expect(r.measures.every((m: any) => m.lostCommits === 0 || m.rpoSeconds > 0)).toBe(true)
    // the human items are listed, never signed by the drill
    expect(r.signoffs.length).toBeGreaterThan(0)
    expect(r.signoffs.every((s: any) => s.last === null)).toBe(true)

    const st = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)
    expect(st.healthy, JSON.stringify(st.problems)).toBe(true)
    expect(st.nodes.map((n: any) => n.role)).toEqual(['primary', 'hot', 'warm'])
  })

  it("sent one test message to every recipient, in the plan's order, each received", () => {
    const order = policy.communication.notificationOrder
    const got = receiver.received.filter((m) => m.body.includes('communication-plan test'))
    expect(got.map((m) => decodeURIComponent(m.path.slice(1)))).toEqual(order)
    expect(r.details.communication.checks.every((c: any) => c.reached && c.latencyMs >= 0)).toBe(true)
    expect(JSON.stringify(r.details.communication)).not.toContain(`127.0.0.1:${receiver.port}`) // URLs are secrets
  })

  it('is one record in the evidence ledger, and the ledger verifies', async () => {
    const ledger = readFileSync(join(t.stateDir, 'evidence.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    const drills = ledger.filter((e) => e.kind === 'drill')
    expect(drills).toHaveLength(1)
    expect(drills[0]).toMatchObject({ level: 'annual', verdict: 'passed' })
    // and each failover and restore it ran is a record of its own: hot and back, warm and back; PITR, cold rebuild
    expect(ledger.filter((e) => e.kind === 'failover' && e.verdict === 'ok').map((e) => e.mode)).toEqual([
      'failover',
      'switchover',
      'switchover',
      'switchover',
    ])
    expect(ledger.filter((e) => e.kind === 'restore' && e.verdict === 'ok')).toHaveLength(2)
    expect(ledger.filter((e) => e.kind === 'proof' && e.verdict === 'proven').length).toBeGreaterThanOrEqual(2)
    expect((await runbook('evidence', ['verify'], t.env)).code).toBe(0)
  })

  it('writes a self-contained report that Chromium renders with no console error and no request leaving the file', async () => {
    const month = new Date().toISOString().slice(0, 7)
    const html = join(outDir, `dr-report-${month}.html`)
    expect(r.details.report).toBe(html)
    const data = JSON.parse(readFileSync(join(outDir, `dr-report-${month}.json`), 'utf8'))
    expect(data.metrics.find((m: any) => m.name === 'data integrity score')).toMatchObject({ value: 100, ok: true })
    expect(data.metrics.find((m: any) => m.name === 'backup success rate').value).toBeGreaterThan(99)
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      const requests: string[] = []
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('request', (q) => requests.push(q.url()))
      await page.goto(`file://${html}`)
      expect(errors).toEqual([])
      expect(requests).toEqual([`file://${html}`])
      const names = await page
        .locator('[data-metric]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-metric')))
      expect(names).toEqual([
        'backup success rate',
        'recovery time achieved (worst)',
        'backup storage growth (month over month)',
        'data integrity score',
      ])
      expect(await page.locator('svg circle').count()).toBeGreaterThan(3)
      expect(await page.textContent('body')).toMatch(/cold site|repo2/)
      mkdirSync(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: join(ARTIFACTS, 'dr-report.png'), fullPage: true })
      expect(existsSync(join(ARTIFACTS, 'dr-report.png'))).toBe(true)
    } finally {
      await browser.close()
    }
  })

  it('a missed objective fails the drill with exit 1 and names it', async () => {
    // the same site judged by a policy whose tier-3 RTO no restore can meet
    const dir = mkdtempSync('/var/tmp/labdojo-strict-')
    try {
      writeFileSync(
        join(dir, 'Pulumi.yaml'),
        readFileSync(join(ROOT, 'Pulumi.yaml'), 'utf8').replace(/rpo: 24h\n(\s+)rto: 24h/, 'rpo: 24h\n$1rto: 1s'),
      )
      const res = await runbook('drill', ['--level', 'monthly', '--skip-failover'], {
        ...t.env,
        LABDOJO_PROJECT_DIR: dir,
      })
      expect(res.code).toBe(1)
      expect(res.stdout).toMatch(/FAIL tier 3 \(standard\): RTO 1 s, worst/)
      expect(res.stdout).toMatch(/PASS tier 1 \(critical\)/)
      expect(res.stdout).toContain('DRILL FAILED (monthly)')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a level it does not know (exit 2, nothing run)', async () => {
    const res = await runbook('drill', ['--level', 'weekly'], t.env)
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/--level.*monthly, quarterly, annual/)
  })
})
