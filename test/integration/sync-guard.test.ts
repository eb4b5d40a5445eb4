/**
 * Synchronous replication with the hot standby gone, on a real local site: the --watch loop
 * holds commits for the policy's syncFallback (10 s in the shipped policy), then degrades to
 * asynchronous with an alert, so the blocked commit is acknowledged; status says plainly that
 * commits are unprotected; once the standby streams again the loop makes replication
 * synchronous again. (Strict mode, syncFallback: never, is decided in core/sync-guard.ts and
 * unit-tested; on the cloud stacks it is Patroni's synchronous_mode_strict.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { testSite, runbook, pidsOf, ROOT, type TestSite } from '../helpers/site.ts'
import { query, Postgres } from '../../runbooks/lib/adapters/postgres.ts'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { killTree, waitFor } from '../../runbooks/lib/adapters/process.ts'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('sync-guard')
let t: TestSite
const primary = { host: '127.0.0.1', port: BASE + 1, database: 'labdojo' }
const status = async () => JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.002'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
})
afterAll(async () => {
  await t?.cleanup()
})

describe('the hot standby gone, synchronous replication (syncFallback 10s)', () => {
  it('[fault] a blocked commit is released by degrading to asynchronous, with an alert; back to synchronous once the standby streams', async () => {
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const watcher = spawn(
      process.execPath,
      ['--import', tsx, join(ROOT, 'runbooks', 'failover.ts'), '--watch', '--max-seconds', '60', '--json'],
      { env: { ...process.env, NODE_OPTIONS: '', ...t.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    watcher.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((r) => watcher.on('close', (c) => r(c ?? -1)))
    await killTree(pidsOf(t.stateDir).node2!)
    // a commit now waits for a standby that is gone
    const insert = query(primary, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('sync-guard', 1, 'x')`)
    await waitFor(
      'the insert to wait for synchronous replication',
      async () =>
        (
          await query<{ n: number }>(
            { ...primary, database: 'postgres' },
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep'`,
          )
        )[0]!.n > 0,
      30_000,
    )
    let released = false
    void insert.then(() => (released = true))
    // released by the degrade (in strict mode it would wait until the standby is back)
    await waitFor('the blocked insert to be released', async () => released, 60_000)
    const auditText = () => readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')
    await waitFor(
      'the degrade in the audit log',
      async () => /"action":"degrade to asynchronous replication","result":"ok"/.test(auditText()),
      30_000,
    )
    const degraded = await status()
    expect(degraded.problems.join(' ')).toMatch(/asynchronous although the policy says synchronous/)
    // the standby comes back (by hand, as an SRE would start it): the loop goes back to synchronous
    const l = layout(t.stateDir, BASE, '/var/lib/postgresql')
    await new Postgres(run).start(l.node('node2').data, l.node('node2').log, '', {
      port: BASE + 2,
      dir: l.socketDir,
    })
    await waitFor(
      'synchronous replication to come back',
      async () => {
        const s = await status()
        return s.healthy && s.nodes.find((n: any) => n.name === 'node2')?.syncState === 'quorum' && s
      },
      120_000,
      500,
    )
    expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).toMatch(
      /"action":"back to synchronous replication","result":"ok"/,
    )
    expect(await exited).toBe(0) // the primary never failed: the watch ends at --max-seconds, no failover
    expect(stderr).toMatch(
      /ALERT no synchronous standby for \d+ s \(over syncFallback 10 s\): degrading to asynchronous/,
    )
  })
})
