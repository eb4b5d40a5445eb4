/**
 * GDPR erasure that survives restores, on a real site: a person is erased from every table that
 * holds them; the erasure is recorded outside the backups (beside repo 1, hash-chained, sealed
 * offsite); a PITR to a point before the erasure brings nothing of them back; a restore that
 * cannot trust the ledger does not serve; exports after the erasure do not hold them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync, existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { dropScratch, json, pidsOf, runbook, testSite, type TestSite } from '../helpers/site.ts'
import { query } from '../../runbooks/lib/adapters/postgres.ts'
import { walkFiles } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('erasure')
let t: TestSite
let user: number
const primary = () => ({ host: '127.0.0.1', port: BASE + 1, database: 'labdojo' })
const PERSONAL = [
  'users:id',
  'auth_credentials:user_id',
  'user_progress:user_id',
  'preferences:user_id',
  'analytics_events:user_id',
]

async function rowsOf(
  conn: { host: string; port: number; database: string },
  id: number,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const tc of PERSONAL) {
    const [table, col] = tc.split(':') as [string, string]
    out[table] = (
      await query<{ n: number }>(conn, `SELECT count(*)::int AS n FROM ${table} WHERE ${col} = $1`, [id])
    )[0]!.n
  }
  return out
}

beforeAll(async () => {
  t = testSite(BASE)
  expect((await runbook('local', ['up', '--scale', '0.002'], t.env)).code).toBe(0)
  const [u] = await query<{ id: number }>(
    primary(),
    `SELECT u.id::int AS id FROM users u WHERE EXISTS (SELECT 1 FROM user_progress p WHERE p.user_id = u.id)
       AND EXISTS (SELECT 1 FROM preferences f WHERE f.user_id = u.id) ORDER BY u.id LIMIT 1`,
  )
  user = u!.id
  await query(primary(), `INSERT INTO analytics_events (user_id, event_type, properties) VALUES ($1, 'login', '{}')`, [
    user,
  ])
})
afterAll(async () => {
  await t?.cleanup()
})

describe('erasure.ts', () => {
  let ledger: string
  it('erases a person from every table that holds them and records it outside the backups', async () => {
    const before = await rowsOf(primary(), user)
    expect(Object.values(before).every((n) => n > 0)).toBe(true)
    expect((await runbook('backup', ['--restore-point', 'before-erasure'], t.env)).code).toBe(0)
    const r = json(await runbook('erasure', ['erase', '--user', String(user), '--yes', '--json'], t.env))
    expect(r.rows).toMatchObject({
      users: 1,
      user_progress: before.user_progress,
      analytics_events: before.analytics_events,
    })
    expect(r.offsite).toMatch(/sealed offsite \(1 new record/)
    expect(Object.values(await rowsOf(primary(), user)).every((n) => n === 0)).toBe(true)
    // a later point, archived: the point before the erasure now lies inside the recoverable window
    expect((await runbook('backup', ['--restore-point', 'after-erasure'], t.env)).code).toBe(0)
    // beside repo 1, hash-chained; offsite sealed: the id is not readable in the bucket
    ledger = join(t.stateDir, 'repo1', 'labdojo-erasures', 'erasures.jsonl')
    expect(readFileSync(ledger, 'utf8')).toContain(`"user":${user}`)
    const sealed = walkFiles(join(t.stateDir, 's3', 'data')).filter((f) => f.includes('erasures'))
    expect(sealed.length).toBeGreaterThan(0)
    for (const f of sealed) expect(readFileSync(f).includes(Buffer.from(`"user":${user}`))).toBe(false)
  })

  it('report: nothing of them is live; backups from before hold them until the offsite retention ends', async () => {
    const r = json(await runbook('erasure', ['report', '--json'], t.env))
    expect(r.erasures).toHaveLength(1)
    const [e] = r.erasures
    expect(e).toMatchObject({ user, liveRows: 0 })
    expect(Date.parse(e.backupsHoldUntil) - Date.parse(e.erasedAt)).toBe(365 * 86400_000)
  })

  it('a PITR to before the erasure brings nothing of them back, and says it purged them', async () => {
    const res = json(await runbook('restore', ['--target', 'name:before-erasure', '--json'], t.env))
    expect(res.notes.join(' ')).toMatch(/re-applied the erasure ledger before serving: \d+ row\(s\) of 1 erased person/)
    const restored = { host: '127.0.0.1', port: res.port, database: 'labdojo' }
    expect(await rowsOf(restored, user)).toEqual({
      users: 0,
      auth_credentials: 0,
      user_progress: 0,
      preferences: 0,
      analytics_events: 0,
    })
    const [others] = await query<{ n: number }>(restored, 'SELECT count(*)::int AS n FROM users')
    expect(others!.n).toBeGreaterThan(0)
    execFileSync('runuser', [
      '-u',
      'postgres',
      '--',
      '/usr/lib/postgresql/15/bin/pg_ctl',
      '-D',
      res.dataDir,
      '-m',
      'immediate',
      'stop',
    ])
  })

  it('a restore that cannot trust the ledger does not serve: refused before anything is restored', async () => {
    const good = readFileSync(ledger, 'utf8')
    writeFileSync(ledger, good.replace(`"user":${user}`, `"user":${user + 1}`))
    try {
      const scratch = join(t.stateDir, 'scratch')
      const before = existsSync(scratch) ? readdirSync(scratch).length : 0
      const r = await runbook('restore', ['--target', 'name:before-erasure'], t.env)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/erasure ledger .* cannot be trusted/)
      expect(existsSync(scratch) ? readdirSync(scratch).length : 0).toBe(before)
    } finally {
      writeFileSync(ledger, good)
    }
  })

  it('[fault] the local ledger lost (moved away): it is put back from the sealed offsite copy, and a PITR to before the erasure still purges them', async () => {
    const good = readFileSync(ledger, 'utf8')
    renameSync(ledger, `${ledger}.moved`)
    try {
      const report = await runbook('erasure', ['report', '--json'], t.env)
      expect(report.code, report.stderr).toBe(0)
      expect(JSON.parse(report.stdout).erasures).toMatchObject([{ user, liveRows: 0 }])
      expect(report.stderr).toMatch(/was missing; put back from its sealed offsite copy \(1 record/)
      expect(readFileSync(ledger, 'utf8')).toBe(good)
      // emptied instead of removed: the same
      writeFileSync(ledger, '')
      const res = json(await runbook('restore', ['--target', 'name:before-erasure', '--json'], t.env))
      expect(res.notes.join(' ')).toMatch(
        /re-applied the erasure ledger before serving: \d+ row\(s\) of 1 erased person/,
      )
      const restored = { host: '127.0.0.1', port: res.port, database: 'labdojo' }
      expect(Object.values(await rowsOf(restored, user)).every((n) => n === 0)).toBe(true)
      await dropScratch(res.dataDir)
      expect(readFileSync(ledger, 'utf8')).toBe(good)
    } finally {
      rmSync(`${ledger}.moved`, { force: true })
      writeFileSync(ledger, good)
    }
  })

  it('[fault] the local ledger lost and the offsite store down: a restore does not serve, and nothing is restored', async () => {
    const good = readFileSync(ledger, 'utf8')
    const s3 = pidsOf(t.stateDir).s3rver!
    rmSync(ledger)
    process.kill(s3, 'SIGSTOP')
    try {
      const scratch = join(t.stateDir, 'scratch')
      const before = existsSync(scratch) ? readdirSync(scratch).length : 0
      const r = await runbook('restore', ['--target', 'name:before-erasure'], t.env)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/erasure ledger .* is missing and its sealed offsite copy cannot be read/)
      expect(existsSync(scratch) ? readdirSync(scratch).length : 0).toBe(before)
    } finally {
      process.kill(s3, 'SIGCONT')
      writeFileSync(ledger, good)
    }
  })

  it('[fault] an erasure that cannot be recorded (ledger immutable) deletes nothing; the retry erases and records', async () => {
    const [u] = await query<{ id: number }>(
      primary(),
      `SELECT id::int AS id FROM users WHERE id <> $1 ORDER BY id LIMIT 1`,
      [user],
    )
    const other = u!.id
    const before = await rowsOf(primary(), other)
    execFileSync('chattr', ['+i', ledger])
    try {
      const r = await runbook('erasure', ['erase', '--user', String(other), '--yes'], t.env)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(new RegExp(`erasure of user ${other} could not be recorded .*nothing was deleted`))
      expect(await rowsOf(primary(), other)).toEqual(before)
    } finally {
      execFileSync('chattr', ['-i', ledger])
    }
    const retry = json(await runbook('erasure', ['erase', '--user', String(other), '--yes', '--json'], t.env))
    expect(retry.rows.users).toBe(1)
    expect(Object.values(await rowsOf(primary(), other)).every((n) => n === 0)).toBe(true)
    expect(readFileSync(ledger, 'utf8')).toContain(`"user":${other}`)
    // and again: already erased, nothing to do, said so
    const again = await runbook('erasure', ['erase', '--user', String(other), '--yes'], t.env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr + again.stdout).toMatch(new RegExp(`user ${other} was already erased`))
  })

  it('the user-progress CSV export taken after the erasure does not hold them', async () => {
    const out = json(await runbook('backup', ['--type', 'logical', '--repo', '1', '--json'], t.env))
    const rec = [out].flat()[0]
    const ids = execFileSync('sh', ['-c', `zcat "${rec.location}/user_progress.csv.gz" | cut -d, -f1`], {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    }).split('\n')
    expect(ids).not.toContain(String(user))
    expect(ids.length).toBeGreaterThan(2)
  })

  it('refuses a bad --user with exit 2, erasing nothing', async () => {
    const r = await runbook('erasure', ['erase', '--user', 'bob', '--yes'], t.env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--user.*positive integer/)
    const none = await runbook('erasure', ['erase', '--user', '999999999', '--yes'], t.env)
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/no such user/)
  })
})
