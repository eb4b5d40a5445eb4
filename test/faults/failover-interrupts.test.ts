/**
 * Fault suite: a failover interrupted at each of its steps, by Ctrl-C (a real SIGINT) and by
 * kill -9 of the runbook itself, on a real site under a synchronous workload. After each: the
 * exit code, what `status` says, the acknowledged commits lost (0), and the command that
 * finishes the job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  runbook,
  pidsOf,
  alive,
  auditEntries,
  type TestSite,
  startFaultSite,
  statusJson,
  stopFaultSite,
} from '../helpers/site.ts'
import { acked, lostCommits } from '../../runbooks/lib/sites/local/workload.ts'
import { LocalSite } from '../../runbooks/lib/sites/local/site.ts'
import { killPrimary } from '../../runbooks/lib/ops/drill/failover-drill.ts'
import { waitFor } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('failover-interrupts')
let t: TestSite
let site: LocalSite
let writer = ''
const endpoint = { host: '127.0.0.1', port: BASE, database: 'labdojo' }
// what status reports (local.ts status --json, computed in this process)
const status = () => statusJson(t)

beforeAll(async () => void ({ t, site, writer } = await startFaultSite(BASE, '0.002')))
afterAll(() => stopFaultSite(t))

/** kill -9 of the primary, then the failover runbook with a fault at `step`. */
async function failoverWithFault(hook: 'LABDOJO_FAULT_SIGNAL_AT' | 'LABDOJO_FAULT_KILL_AT', step: string) {
  const s = await status()
  expect(s.healthy, JSON.stringify(s.problems)).toBe(true)
  const old = s.primary as 'node1'
  await killPrimary(site, old)
  await waitFor(`${old} to die`, async () => !alive(pidsOf(t.stateDir)[old]), 30_000)
  const r = await runbook('failover', ['--yes'], { ...t.env, [hook]: step })
  return { old, r }
}

/** Service is back: a healthy site, writes through the endpoint, no acknowledged commit lost; the old primary rejoined. */
async function serviceRestored(old: string) {
  const back = await runbook('failback', ['--yes', '--node', old], t.env)
  expect(back.code, back.stderr).toBe(0)
  const s = await status()
  expect(s.healthy, JSON.stringify(s.problems)).toBe(true)
  await new Promise((r) => setTimeout(r, 500))
  expect(await lostCommits(endpoint, acked(site.layout, writer))).toEqual([])
}

describe('Ctrl-C during a failover', () => {
  it('while gathering the facts: stops before the fence, nothing changed; the printed command finishes it', async () => {
    const { old, r } = await failoverWithFault('LABDOJO_FAULT_SIGNAL_AT', 'gather the facts')
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toMatch(
      /interrupted by SIGINT at a safe point.*steps done: gather the facts.*to finish: npx zx runbooks\/failover.ts --yes/s,
    )
    const s = await status()
    expect(s.primary).toBe(old)
    expect(auditEntries(t).some((e) => e.action === 'fence endpoint')).toBe(false)
    const again = await runbook('failover', ['--yes'], t.env)
    expect(again.code, again.stderr).toBe(0)
    await serviceRestored(old)
  })

  // from the fence on, stopping halfway would leave no primary behind the endpoint: the signal
  // is honoured once the new primary serves
  it.each(['fence endpoint', 'stop ', 'promote ', 'route endpoint to ', 'verify a write'])(
    'at "%s": the failover is finished first (a new primary serves), then it stops',
    async (step) => {
      const { old, r } = await failoverWithFault('LABDOJO_FAULT_SIGNAL_AT', step)
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(
        /SIGINT received during "the failover to node\d", which must not stop halfway: finishing it/,
      )
      expect(r.stderr).toMatch(/SIGINT came during the failover: it was finished first/)
      const s = await status()
      expect(s.primary).not.toBe(old)
      expect(s.endpoint.healthy).toBe(true)
      expect(auditEntries(t).filter((e) => e.result === 'interrupted')).toEqual([])
      await serviceRestored(old)
    },
  )
})

describe('kill -9 of the failover runbook midway', () => {
  it.each([
    ['fence endpoint', /nothing/],
    [
      'promote ',
      /is fenced: a failover stopped before it promoted a standby; finish it: npx zx runbooks\/failover.ts --yes/,
    ],
    ['route endpoint to ', /route it to node\d: npx zx runbooks\/local.ts up/],
  ])(
    'at "%s": status names what is left and the command that finishes it; that command restores service',
    async (step, said) => {
      const { old, r } = await failoverWithFault('LABDOJO_FAULT_KILL_AT', step)
      expect(r.code).toBe(-1) // killed by a signal: no exit code
      const s = await status()
      expect(s.healthy).toBe(false)
      const problems = (s.problems as string[]).join('\n')
      if (step === 'fence endpoint') expect(problems).toMatch(new RegExp(`primary ${old}`))
      else expect(problems).toMatch(said)
      // the killed run's lock is stale: the next runbook takes it over
      const finish = step === 'route endpoint to ' ? ['local', ['up']] : ['failover', ['--yes']]
      const f = await runbook(finish[0] as string, finish[1] as string[], t.env)
      expect(f.code, f.stderr).toBe(0)
      expect((await status()).endpoint.healthy).toBe(true)
      await serviceRestored(old)
    },
  )
})
