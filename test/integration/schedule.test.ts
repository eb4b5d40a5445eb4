/**
 * Schedules that run: `local.ts up` starts the site's scheduler, which runs the policy's
 * backups by their crons and proves each new backup; nobody calls either here. The policy is
 * overridden so the incremental backup runs every minute; the test watches the audit log and
 * the evidence ledger until that backup is taken and proven, then `down` stops the scheduler.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, runbook, testSite, type TestSite } from '../helpers/site.ts'
import { pidAlive, waitFor } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('schedule')
let t: TestSite
let dir: string

afterAll(async () => {
  await t?.cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const lines = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : []

describe('the scheduler', () => {
  it('takes the incremental backup by its cron and proves it, with nobody calling either; down stops it', async () => {
    dir = mkdtempSync('/var/tmp/labdojo-sched-')
    writeFileSync(
      join(dir, 'Pulumi.yaml'),
      readFileSync(join(ROOT, 'Pulumi.yaml'), 'utf8').replace(
        'incremental: { cron: "0 3 * * 1-6"',
        'incremental: { cron: "* * * * *"',
      ),
    )
    t = testSite(BASE)
    t.env.LABDOJO_PROJECT_DIR = dir
    t.env.LABDOJO_SCHEDULER = 'on'
    const up = await runbook('local', ['up', '--scale', '0.002'], t.env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stdout + up.stderr).toMatch(/started the scheduler/)
    const pid = Number(readFileSync(join(t.stateDir, 'scheduler', 'scheduler.pid'), 'utf8'))
    expect(pidAlive(pid, 'scheduler-main.ts')).toBe(true)

    const st = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)
    expect(st.scheduler).toMatchObject({ running: true, pid, next: { job: 'incremental backup' } })

    const audit = t.env.LABDOJO_AUDIT_LOG!
    const incr = await waitFor(
      'a scheduled incremental backup in the audit log',
      async () =>
        lines(audit).find((e) => e.runbook === 'backup.ts' && e.action === 'backup incr' && e.result === 'ok'),
      10 * 60_000,
      1000,
    )
    expect(incr).toBeTruthy()
    const catalog = JSON.parse((await runbook('catalog', ['--json'], t.env)).stdout)
    const label = catalog.repos.find((r: any) => r.repo === 1).backups.find((b: any) => b.type === 'incr').label
    const proof = await waitFor(
      `the proof of ${label} in the evidence ledger`,
      async () => lines(join(t.stateDir, 'evidence.jsonl')).find((e) => e.kind === 'proof' && e.backup === label),
      10 * 60_000,
      1000,
    )
    expect(proof).toMatchObject({ verdict: 'proven', repo: 1 })
    const log = readFileSync(join(t.stateDir, 'scheduler', 'scheduler.log'), 'utf8')
    expect(log).toMatch(/end incremental backup: exit 0/)
    expect(log).toMatch(/start prove new backups: verify\.ts --backup pending/)

    const down = await runbook('local', ['down'], t.env)
    expect(down.stdout + down.stderr).toMatch(/stopped the scheduler/)
    expect(pidAlive(pid, 'scheduler-main.ts')).toBe(false)
  })
})
