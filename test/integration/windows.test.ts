/**
 * The recoverable window promises only what recovery can reach, on a real idle site: a time target
 * needs a commit after it in archived WAL (PostgreSQL stops at the first commit past the target,
 * or ends with "recovery ended before configured recovery target was reached"), a restore point
 * needs its own record archived, and neither waits on a commit that has not happened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dropScratch, json, runbook, serverNow, testSite, type TestSite } from '../helpers/site.ts'
import { query } from '../../runbooks/lib/adapters/postgres.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('windows')
let t: TestSite
const primary = () => ({ host: '127.0.0.1', port: BASE + 1, database: 'labdojo' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.002'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  await query(primary(), `CREATE TABLE IF NOT EXISTS window_probe (id int PRIMARY KEY, at timestamptz)`)
})
afterAll(async () => {
  await t?.cleanup()
})

describe('restore windows on an idle site', () => {
  it('a restore point restores at once: its record is archived though no commit follows it', async () => {
    await query(primary(), `INSERT INTO window_probe VALUES (1, clock_timestamp())`)
    const point = await runbook('backup', ['--restore-point', 'fresh-point'], t.env)
    expect(point.code, point.stderr).toBe(0)
    const r = await runbook('restore', ['--target', 'name:fresh-point', '--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout)
    try {
      const rows = await query<{ id: number }>({ ...primary(), port: res.port }, 'SELECT id FROM window_probe')
      expect(rows.map((x) => x.id)).toEqual([1])
    } finally {
      await dropScratch(res.dataDir)
    }
  })

  it('a time after the last archived commit: the primary commits and archives, the restore reaches it, and says so', async () => {
    await query(primary(), `INSERT INTO window_probe VALUES (2, clock_timestamp())`)
    // row 2 committed, then nothing: the target lies after every commit the archive could hold
    await sleep(1500)
    const target = new Date((await serverNow(BASE + 1)) - 500).toISOString()
    await sleep(1000)
    const r = await runbook('restore', ['--target', target, '--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const res = json(r)
    try {
      expect(res.notes.join(' ')).toMatch(
        /no commit after .* had been archived yet: committed and archived WAL segment/,
      )
      const rows = await query<{ id: number }>(
        { ...primary(), port: res.port },
        'SELECT id FROM window_probe ORDER BY id',
      )
      expect(rows.map((x) => x.id)).toEqual([1, 2])
    } finally {
      await dropScratch(res.dataDir)
    }
  })

  it('the catalog shows how far a time target reaches (before the last archived commit), apart from latest', async () => {
    const r = await runbook('restore', ['--target', '2100-01-01T00:00:00Z'], t.env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/a time target from .* to before .*, the last archived commit/)
  })
})
