/**
 * Fault suite: an in-place restore to `latest` interrupted at each of its steps (a real SIGINT),
 * the primary's port stolen while it runs, and kill -9 of pgBackRest itself mid-backup and
 * mid-restore, on a real site under a workload. After each: the exit code, what `status` says,
 * the acknowledged commits lost (0), nothing left running or half-written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { offsiteStore } from '../../runbooks/lib/sites/local/offsite-store.ts'
import {
  runbook,
  startRunbook,
  json,
  auditEntries,
  type TestSite,
  startFaultSite,
  statusJson,
  stopFaultSite,
} from '../helpers/site.ts'
import { acked, lostCommits } from '../../runbooks/lib/sites/local/workload.ts'
import { LocalSite } from '../../runbooks/lib/sites/local/site.ts'
import { waitFor } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('restore-interrupts')
let t: TestSite
let site: LocalSite
let writer = ''
const endpoint = { host: '127.0.0.1', port: BASE, database: 'labdojo' }
// what status reports (local.ts status --json, computed in this process)
const status = () => statusJson(t)

beforeAll(async () => void ({ t, site, writer } = await startFaultSite(BASE, '0.01')))
afterAll(() => stopFaultSite(t))

/** Nothing half-written: no staged copy beside any node, and no scratch cluster. */
function leftovers(): string[] {
  const nodes = dirname(site.layout.node('node1').dir)
  const beside = readdirSync(nodes).flatMap((n) => readdirSync(`${nodes}/${n}`).filter((f) => /restoring-/.test(f)))
  const scratch = existsSync(site.layout.scratchDir) ? readdirSync(site.layout.scratchDir) : []
  return [...beside, ...scratch]
}

/** A healthy site that serves writes and has lost no acknowledged commit. */
async function serving() {
  const s = await status()
  expect(s.healthy, JSON.stringify(s.problems)).toBe(true)
  await new Promise((r) => setTimeout(r, 500))
  expect(await lostCommits(endpoint, acked(site.layout, writer))).toEqual([])
}

const inPlace = ['--target', 'latest', '--in-place', '--yes']

describe('Ctrl-C during an in-place restore', () => {
  // before the directories are exchanged: the restore is abandoned, the original serves again
  it.each([
    'plan restore',
    'pgbackrest restore (staging)',
    'verify staged restore',
    'fence endpoint',
    'archive ',
    'stop ',
    'check no commit after the fence',
    'replay the tail into the staged copy',
  ])('at "%s": abandoned, the original primary serves, nothing left behind', async (step) => {
    const primary = (await status()).primary
    const r = await runbook('restore', inPlace, { ...t.env, LABDOJO_FAULT_SIGNAL_AT: step })
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(/interrupted by SIGINT at a safe point/)
    expect(leftovers()).toEqual([])
    expect((await status()).primary).toBe(primary)
    await serving()
  })

  // after the exchange: the verified restore is brought into service first, then it stops
  it.each(['start node1 on the restored data', 're-apply the erasure ledger', 'route endpoint'])(
    'at "%s": the restored primary is put into service first; it stops before the standbys, naming local.ts up',
    async (step) => {
      const r = await runbook('restore', inPlace, { ...t.env, LABDOJO_FAULT_SIGNAL_AT: step })
      expect(r.code, r.stderr).toBe(130)
      expect(r.stderr).toMatch(/which must not stop halfway: finishing it/)
      expect(r.stderr).toMatch(/to finish: the restored node1 serves the endpoint.*local.ts up/)
      expect((await status()).endpoint.healthy).toBe(true)
      const up = await runbook('local', ['up'], t.env)
      expect(up.code, up.stderr).toBe(0)
      await serving()
    },
  )

  it('at "rebuild standbys": it stops there, the restored primary serving; local.ts up finishes the standbys', async () => {
    const r = await runbook('restore', inPlace, { ...t.env, LABDOJO_FAULT_SIGNAL_AT: 'rebuild standbys' })
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(
      /stopped: rebuild standbys\n.*to finish: the restored node1 serves the endpoint; npx zx runbooks\/local.ts up.*backup.ts --type full/s,
    )
    expect((await status()).endpoint.healthy).toBe(true)
    const up = await runbook('local', ['up'], t.env)
    expect(up.code, up.stderr).toBe(0)
    await serving()
  })
})

/** Timeline history files in repo1's archive, in the repo2 queue and in repo2's bucket. */
async function historyFiles(): Promise<string[]> {
  const archive = join(site.layout.pgbackrest.repo1, 'archive', 'labdojo', '15-1')
  const local = readdirSync(archive).filter((f) => f.endsWith('.history'))
  const queued = readdirSync(site.layout.pgbackrest.outbox).filter((f) => f.endsWith('.history'))
  const store = offsiteStore(site.layout)
  try {
    const offsite = (await store.list('pgbackrest/archive/'))
      .map((o) => o.key)
      .filter((k) => k.includes('/archive/') && k.endsWith('.history'))
      .map((k) => `repo2:${k.split('/').at(-1)}`)
    return [...local.map((f) => `repo1:${f}`), ...queued.map((f) => `queue:${f}`), ...offsite].sort()
  } finally {
    store.close()
  }
}

describe('kill -9 during an in-place restore: local.ts up undoes or finishes it from its journal', () => {
  // not yet proven: up puts the original back (or removes the staged copy), the site serves, nothing lost
  it.each([
    ['pgbackrest restore (staging)', 'staging'],
    ['fence endpoint', 'fenced'],
    ['stop node', 'fenced'],
    ['replay the tail into the staged copy', 'fenced'],
    ['start node1 on the restored data', 'swapped'],
    ['archive the restored timeline', 'swapped'],
  ])('killed at "%s": up undoes it (%s), the original serves, nothing lost', async (step, phase) => {
    const histories = await historyFiles()
    const r = await runbook('restore', inPlace, { ...t.env, LABDOJO_FAULT_KILL_AT: step })
    expect(r.code).not.toBe(0)
    expect(existsSync(join(t.stateDir, 'in-place-restore.json'))).toBe(true)
    const up = await runbook('local', ['up'], t.env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stderr).toMatch(
      new RegExp(
        `undid the in-place restore to latest that was interrupted \\(${phase}\\): node1 serves its original data again`,
      ),
    )
    expect(existsSync(join(t.stateDir, 'in-place-restore.json'))).toBe(false)
    await serving()
    expect(await historyFiles()).toEqual(histories)
    expect(leftovers()).toEqual([])
    for (const kept of keptCopies()) rmSync(kept, { recursive: true, force: true })
  })

  it.each(['route endpoint', 'rebuild standbys'])(
    'killed at "%s", once the restored primary was proven: up finishes it',
    async (step) => {
      const r = await runbook('restore', inPlace, { ...t.env, LABDOJO_FAULT_KILL_AT: step })
      expect(r.code).not.toBe(0)
      const up = await runbook('local', ['up'], t.env)
      expect(up.code, up.stderr).toBe(0)
      expect(up.stderr).toMatch(/finished the in-place restore to latest that was interrupted after it was proven/)
      await serving()
      expect(leftovers()).toEqual([])
    },
  )
})

/** Restored copies an undone restore kept aside (data.failed-<time>), for the test to remove. */
function keptCopies(): string[] {
  const dir = dirname(site.layout.node('node1').data)
  return readdirSync(dir)
    .filter((f) => f.startsWith('data.failed-'))
    .map((f) => join(dir, f))
}

describe('a rolled-back in-place restore', () => {
  it('leaves no timeline of its own in the archive, and the site as healthy as before (standbys streaming, synchronous)', async () => {
    const histories = await historyFiles()
    // the restored primary is promoted, then a later step of its bring-up fails: it is rolled back
    const r = await runbook('restore', inPlace, { ...t.env, LABDOJO_FAULT_FAIL_AT: 're-apply the erasure ledger' })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(
      /failed after the swap .* and was rolled back: the original data directory is back and serving.*standbys running/s,
    )
    expect(await historyFiles()).toEqual(histories)
    // healthy without another command: the standbys follow the original timeline
    await serving()
    const s = await status()
    const hot = s.nodes.filter((n: any) => n.role === 'hot')
    expect(hot.length).toBeGreaterThan(0)
    for (const n of hot) expect(['sync', 'quorum']).toContain(n.syncState)
    const kept = r.stderr.match(/restored copy is kept at (\S+?)[.;]?\s/)?.[1]
    if (kept) rmSync(kept, { recursive: true, force: true })
  })
})

/** Hold a port as soon as it is free (the reproduction: bind it in a loop). */
function grabPort(port: number): { child: ChildProcess; held: Promise<void> } {
  const script = `const net = require('net');
    (function grab() { const s = net.createServer(); s.once('error', () => setTimeout(grab, 5));
      s.listen(${port}, '127.0.0.1', () => console.log('held')) })()`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const held = new Promise<void>((r) => child.stdout!.on('data', () => r()))
  return { child, held }
}

describe("the primary's port stolen mid-restore", () => {
  it('the restore and its rollback cannot start node1: exit 1 with the exact state and the one command; that command restores service', async () => {
    const auditBefore = auditEntries(t).length
    const grabber = grabPort(site.port('node1'))
    let r
    try {
      r = await runbook('restore', inPlace, t.env)
      await grabber.held
    } finally {
      grabber.child.kill('SIGKILL')
    }
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(
      /the original data directory is back at .*node1.* does not serve.*Restore service with: npx zx runbooks\/local.ts up/s,
    )
    const rollback = auditEntries(t)
      .slice(auditBefore)
      .filter((e) => e.action === 'roll back to the original data directory')
    expect(rollback.map((e) => e.result)).toEqual(['start', 'failed'])
    // the restored copy that could not start is kept for inspection, where the message says
    const kept = r.stderr.match(/restored copy is kept at (\S+?)[.;]?\s/)?.[1]
    expect(kept && existsSync(kept), r.stderr).toBe(true)
    const up = await runbook('local', ['up'], t.env)
    expect(up.code, up.stderr).toBe(0)
    await serving()
    rmSync(kept!, { recursive: true, force: true })
  })
})

/** The site's own pgBackRest process running `command` (not its workers, not another site's). */
function pgbackrestPid(command: string): number | undefined {
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean)
    } catch {
      continue
    }
    if (
      argv[0]?.endsWith('pgbackrest') &&
      argv.at(-1) === command &&
      argv.some((a) => a.startsWith(`--config=${site.layout.pgbackrest.dir}`))
    )
      return Number(p)
  }
}

async function killPgbackrestDuring(name: string, args: string[], command: string) {
  const child = startRunbook(name, args, t.env)
  const pid = await waitFor(`pgbackrest ${command} to start`, async () => pgbackrestPid(command), 120_000, 5)
  process.kill(pid, 'SIGKILL')
  return child.done
}

describe('kill -9 of pgBackRest itself', () => {
  it('mid-backup: the backup fails (exit 1) naming pgBackRest, no set is counted, and the next backup succeeds', async () => {
    const sets = async () =>
      json(await runbook('catalog', ['--json'], t.env)).repos.find((x: any) => x.repo === 1).backups.length
    const before = await sets()
    const r = await killPgbackrestDuring('backup', ['--type', 'full', '--repo', '1'], 'backup')
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/pgbackrest/i)
    expect(await sets()).toBe(before)
    expect(pgbackrestPid('backup')).toBeUndefined()
    await serving()
    const again = await runbook('backup', ['--type', 'full', '--repo', '1'], t.env)
    expect(again.code, again.stderr).toBe(0)
    expect(await sets()).toBe(before + 1)
  })

  it('mid-restore into a new cluster: fails (exit 1), the partial directory is removed, nothing runs', async () => {
    const r = await killPgbackrestDuring('restore', ['--target', 'latest'], 'restore')
    expect(r.code, r.stderr).toBe(1)
    expect(leftovers()).toEqual([])
    expect(pgbackrestPid('restore')).toBeUndefined()
    await serving()
  })
})
