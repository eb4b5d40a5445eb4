/**
 * The foundation, proven on a real local site: PostgreSQL 15 primary, hot and warm standbys,
 * pgBackRest repos (posix + S3 over TLS, encrypted), PgBouncer endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  readFileSync,
  readdirSync,
  statSync,
  existsSync,
  writeFileSync,
  mkdtempSync,
  rmSync,
  utimesSync,
} from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { testSite, runbook, json, pidsOf, alive, localSiteOf, ROOT, type TestSite } from '../helpers/site.ts'
import { spawn, spawnSync } from 'node:child_process'
import { query } from '../../runbooks/lib/adapters/postgres.ts'
import { waitFor } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('local-site')
// the throw-away sites some tests add: a range no other test file uses (files run two at a time)
const OTHER = portsOf('local-site (second site)')
let t: TestSite
const node = (n: number, db = 'labdojo') => ({ host: '127.0.0.1', port: BASE + n, database: db })
const endpoint = { host: '127.0.0.1', port: BASE, database: 'labdojo' }

beforeAll(async () => {
  t = testSite(BASE)
  const r = await runbook('local', ['up', '--scale', '0.005'], t.env)
  if (r.code !== 0) throw new Error(`up failed (${r.code}):\n${r.stderr}\n${r.stdout}`)
})
afterAll(async () => {
  await t?.cleanup()
})

describe('local site: up from nothing', () => {
  it('status --json shows primary, hot and warm healthy, both repos reachable, the endpoint on the primary', async () => {
    const r = await runbook('local', ['status', '--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const s = JSON.parse(r.stdout)
    expect(s.healthy).toBe(true)
    expect(s.nodes.map((n: any) => [n.name, n.role, n.live, n.healthy])).toEqual([
      ['node1', 'primary', 'primary', true],
      ['node2', 'hot', 'standby', true],
      ['node3', 'warm', 'standby', true],
    ])
    expect(s.repos.map((x: any) => [x.index, x.type, x.healthy])).toEqual([
      [1, 'posix', true],
      [2, 's3', true],
    ])
    expect(s.endpoint).toMatchObject({ target: 'node1', routesToPort: BASE + 1, healthy: true })
  })

  it('the primary has data checksums, wal_level=replica and archives through pgBackRest', async () => {
    const rows = await query<{ name: string; setting: string }>(
      node(1, 'postgres'),
      `SELECT name, setting FROM pg_settings WHERE name IN ('data_checksums','wal_level','archive_mode','archive_command','archive_timeout')`,
    )
    const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]))
    expect(s).toMatchObject({ data_checksums: 'on', wal_level: 'replica', archive_mode: 'on', archive_timeout: '60' })
    expect(s.archive_command).toMatch(/labdojo-pgbackrest-wal push .*\/node1\/data %p$/)
  })

  it('loads the LabDojo schema with realistic user_progress rows', async () => {
    const [r] = await query<{ n: number; jsonb: string }>(
      node(1),
      `SELECT count(*)::int AS n, min(jsonb_typeof(progress_data)) AS jsonb FROM user_progress`,
    )
    expect(r!.n).toBeGreaterThan(1000)
    expect(r!.jsonb).toBe('object')
    const cols = await query<{ column_name: string }>(
      node(1),
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'user_progress'`,
    )
    expect(cols.map((c) => c.column_name)).toEqual(
      expect.arrayContaining(['user_id', 'progress_data', 'achievements', 'favorites', 'last_updated']),
    )
  })

  it('replicates a write through the endpoint to the hot standby by streaming, over its slot, synchronously', async () => {
    const marker = `hot-${Date.now()}`
    await query(endpoint, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ($1, 1, 'x')`, [marker])
    await waitFor(
      'the hot standby to replay the write',
      async () => (await query(node(2), `SELECT 1 FROM drill_ledger WHERE writer = $1`, [marker])).length === 1,
      30_000,
    )
    const rep = await query<{ application_name: string; sync_state: string }>(
      node(1, 'postgres'),
      `SELECT application_name, sync_state FROM pg_stat_replication`,
    )
    expect(rep.find((r) => r.application_name === 'node2')?.sync_state).toMatch(/sync|quorum/)
    const slots = await query<{ slot_name: string; active: boolean }>(
      node(1, 'postgres'),
      `SELECT slot_name, active FROM pg_replication_slots`,
    )
    expect(slots).toContainEqual({ slot_name: 'node2', active: true })
  })

  it('feeds the warm standby from the WAL archive only (no walreceiver)', async () => {
    const marker = `warm-${Date.now()}`
    await query(endpoint, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ($1, 1, 'x')`, [marker])
    await query(node(1, 'postgres'), 'SELECT pg_switch_wal()')
    await waitFor(
      'the warm standby to replay the archived write',
      async () => (await query(node(3), `SELECT 1 FROM drill_ledger WHERE writer = $1`, [marker])).length === 1,
      120_000,
      500,
    )
    const recv = await query(node(3, 'postgres'), `SELECT * FROM pg_stat_wal_receiver`)
    expect(recv).toHaveLength(0)
  })

  it('archives WAL into both repos and holds a full backup in each', async () => {
    const [w] = await query<{ f: string }>(node(1, 'postgres'), `SELECT pg_walfile_name(pg_current_wal_lsn()) AS f`)
    await query(node(1, 'postgres'), 'SELECT pg_switch_wal()')
    const r = await runbook('local', ['status', '--json'], t.env)
    const s = JSON.parse(r.stdout)
    await waitFor(
      'both repos to hold the switched segment',
      async () => {
        const st = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)
        return st.repos.every((x: any) => x.archiveMax && x.archiveMax >= w!.f)
      },
      60_000,
      500,
    )
    expect(s.repos.every((x: any) => x.backups >= 1)).toBe(true)
    // repo2 is reached over verified TLS: the local S3 server's certificate is the CA
    const conf = readFileSync(join(t.stateDir, 'pgbackrest', 'pgbackrest.conf'), 'utf8')
    expect(conf).toMatch(/^repo2-storage-ca-file=.*cert\.pem$/m)
    expect(conf).not.toMatch(/verify-tls=n/)
  })

  it("[fault] stanza-create waits out the archive lock another pgBackRest holds for a moment (a new primary's archive-push)", async () => {
    const site = localSiteOf(t)
    const lock = join(site.layout.pgbackrest.lock, 'labdojo-archive.lock')
    // the lock pgBackRest takes (flock), held by another process for a second and a half
    const holder = spawn('runuser', ['-u', 'postgres', '--', 'flock', '-x', lock, 'sleep', '1.5'])
    const released = new Promise<number>((r) => holder.on('exit', () => r(Date.now())))
    const held = () => spawnSync('runuser', ['-u', 'postgres', '--', 'flock', '-n', lock, 'true']).status !== 0
    await waitFor('the lock to be held', async () => held(), 10_000, 20)
    await site.br.stanzaCreate() // exit 50 at first: retried, not thrown
    const done = Date.now()
    expect(await released).toBeLessThanOrEqual(done)
  })

  it('up on a healthy site changes nothing (same processes, "no changes")', async () => {
    const before = pidsOf(t.stateDir)
    const r = await runbook('local', ['up'], t.env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('no changes')
    expect(pidsOf(t.stateDir)).toEqual(before)
  })

  it('keeps the repo2 cipher pass 0600 outside the repo, and out of every file, log and argv', async () => {
    const { layout } = await import('../../runbooks/lib/sites/local/layout.ts')
    const l = layout(t.stateDir, BASE, '/var/lib/postgresql')
    const f = l.secrets.pgbackrest
    expect(statSync(f).mode & 0o777).toBe(0o600)
    expect(f.startsWith(ROOT)).toBe(false)
    const pass = /repo2-cipher-pass=(.+)/.exec(readFileSync(f, 'utf8'))![1]!
    expect(pass.length).toBeGreaterThanOrEqual(32)
    const dbPass = readFileSync(l.secrets.pgpass, 'utf8').trim().split(':').at(-1)!
    expect(dbPass.length).toBeGreaterThanOrEqual(32)
    // no file of the state dir (configs, logs, audit) holds it
    const hits: string[] = []
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name)
        if (e.isDirectory()) {
          if (!['data', 'repo1', 's3'].includes(e.name)) walk(p)
        } else if (e.isFile() && statSync(p).size < 50_000_000) {
          const text = readFileSync(p)
          if (text.includes(pass) || text.includes(dbPass)) hits.push(p)
        }
      }
    }
    walk(join(t.stateDir, '..'))
    expect(hits).toEqual([])
    // no process's argv holds it
    for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        expect(argv).not.toContain(pass)
        expect(argv).not.toContain(dbPass)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ESRCH') throw e
      }
    }
    // and repo2 really is encrypted: the S3 objects are not readable manifests
    const status = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)
    expect(status.repos[1].healthy).toBe(true)
    expect(JSON.stringify(status)).not.toContain(pass)
  })
})

describe('local site: no trust on 127.0.0.1', () => {
  it("a local user without the site's password gets no session: not on a node, the endpoint, its console or the socket", async () => {
    const { layout } = await import('../../runbooks/lib/sites/local/layout.ts')
    const l = layout(t.stateDir, BASE, '/var/lib/postgresql')
    for (const f of [l.secrets.pgpass, l.secrets.bouncerUsers]) expect(statSync(f).mode & 0o777).toBe(0o600)
    const readSecret = `SELECT pg_read_file('${l.secrets.pgbackrest}')`
    const attempts: [string, string[]][] = [
      ['node1 over TCP', ['-h', '127.0.0.1', '-p', String(BASE + 1), '-d', 'postgres', '-c', readSecret]],
      ['the hot standby over TCP', ['-h', '127.0.0.1', '-p', String(BASE + 2), '-d', 'postgres', '-c', readSecret]],
      ['the endpoint', ['-h', '127.0.0.1', '-p', String(BASE), '-d', 'labdojo', '-c', readSecret]],
      ['the endpoint console', ['-h', '127.0.0.1', '-p', String(BASE), '-d', 'pgbouncer', '-c', 'SHOW USERS']],
      ['the unix socket', ['-h', l.socketDir, '-p', String(BASE + 1), '-d', 'postgres', '-c', readSecret]],
    ]
    for (const [what, args] of attempts) {
      const r = spawnSync(
        'runuser',
        ['-u', 'nobody', '--', '/usr/lib/postgresql/15/bin/psql', '-X', '-w', '-U', 'postgres', ...args],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH, HOME: '/tmp' },
        },
      )
      expect(r.status, `${what}: ${r.stdout}`).not.toBe(0)
      expect(r.stderr, what).toMatch(/password|peer authentication failed|SASL|no pg_hba|Permission denied/i)
      expect(r.stdout, what).not.toMatch(/repo2-cipher-pass/)
    }
    // with the password file, the same login works (and the socket admits the postgres OS user)
    expect(await query(node(1, 'postgres'), 'SELECT 1 AS ok')).toEqual([{ ok: 1 }])
    const [{ rolpassword }] = (await query<{ rolpassword: string }>(
      node(1, 'postgres'),
      `SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'`,
    )) as [{ rolpassword: string }]
    expect(rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/)
  })
})

describe('local site: bad input is refused with exit 2 and nothing started', () => {
  it('an unknown stack', async () => {
    const r = await runbook('failover', ['--stack', 'staging', '--dry-run'], t.env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--stack.*staging.*valid stacks: local, dr, prod/)
  })

  it('an unknown flag and a bad --scale', async () => {
    const a = await runbook('local', ['up', '--sacle', '1'], t.env)
    expect(a.code).toBe(2)
    expect(a.stderr).toMatch(/sacle.*valid flags:/s)
    const b = await runbook('local', ['up', '--scale', 'huge'], t.env)
    expect(b.code).toBe(2)
    expect(b.stderr).toMatch(/--scale.*0.001 to 20/)
  })

  it('[fault] a port already taken: names the port and the fix, starts nothing', async () => {
    const other = testSite(OTHER)
    const srv = createServer().listen(OTHER + 2, '127.0.0.1')
    // a port taken by anything else fails the test here, never hangs it
    await new Promise((r, j) => srv.once('listening', r).once('error', j))
    try {
      const r = await runbook('local', ['up', '--scale', '0.001'], other.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`127.0.0.1:${OTHER + 2} is already in use.*--base-port`, 's'))
      expect(existsSync(join(other.stateDir, 'site.json'))).toBe(false)
      expect(existsSync(join(other.stateDir, 'nodes'))).toBe(false)
    } finally {
      srv.close()
      await other.cleanup()
    }
  })

  it('missing binaries: lists them with the apt-get fix, starts nothing', async () => {
    const other = testSite(OTHER + 100)
    try {
      const r = await runbook('local', ['up'], { ...other.env, LABDOJO_PG_BIN: '/nonexistent/bin' })
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(
        /\/nonexistent\/bin\/initdb.*apt-get install -y postgresql-15 pgbackrest pgbouncer openssl/s,
      )
      expect(existsSync(other.stateDir)).toBe(false)
    } finally {
      await other.cleanup()
    }
  })

  it('a malformed policy: every problem named, nothing started', async () => {
    const dir = mkdtempSync('/var/tmp/labdojo-policy-')
    const text = readFileSync(join(ROOT, 'Pulumi.yaml'), 'utf8')
      .replace('rpo: 15m', 'rpo: fifteen')
      .replace('capacity: 75', 'capacity: 175')
    writeFileSync(join(dir, 'Pulumi.yaml'), text)
    const other = testSite(OTHER + 200)
    try {
      const r = await runbook('local', ['up'], { ...other.env, LABDOJO_PROJECT_DIR: dir })
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/policy\.tiers\.1\.rpo.*fifteen.*not a duration/)
      expect(r.stderr).toMatch(/policy\.sites\.warm\.capacity.*175/)
      expect(existsSync(other.stateDir)).toBe(false)
    } finally {
      await other.cleanup()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('one mutating runbook at a time, and a damaged state file', () => {
  it('[fault] a second runbook is refused, naming the holder; a stale lock is taken over', async () => {
    const lock = join(t.stateDir, 'runbook.lock')
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
    try {
      writeFileSync(
        lock,
        JSON.stringify({ pid: holder.pid, command: 'restore.ts --in-place', since: '2026-11-27T03:00:00Z' }),
      )
      const backupsBefore = json(await runbook('local', ['status', '--json'], t.env)).repos.map((r: any) => r.backups)
      const r = await runbook('backup', ['--type', 'full'], t.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(
        new RegExp(`another runbook is changing this site: pid ${holder.pid} \\(restore.ts --in-place\\)`),
      )
      expect(json(await runbook('local', ['status', '--json'], t.env)).repos.map((x: any) => x.backups)).toEqual(
        backupsBefore,
      )
    } finally {
      holder.kill('SIGKILL')
    }
    writeFileSync(lock, JSON.stringify({ pid: 999999, command: 'failover.ts --yes', since: '2026-11-27T03:00:00Z' }))
    const up = await runbook('local', ['up'], t.env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stderr).toMatch(/stale site lock from pid 999999 \(failover.ts --yes\).*taking it over/)
    expect(existsSync(lock)).toBe(false) // released at exit
  })

  it('[fault] a truncated site.json is named with the way back, and nothing runs on it', async () => {
    const file = join(t.stateDir, 'site.json')
    const good = readFileSync(file, 'utf8')
    writeFileSync(file, good.slice(0, 30))
    try {
      const r = await runbook('local', ['status'], t.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`invalid site state in ${file}.*is not JSON.*site\\.json\\.prev`, 's'))
      const b = await runbook('backup', ['--type', 'incr'], t.env)
      expect(b.code).toBe(2)
      expect(readFileSync(join(t.stateDir, 'pgbackrest', 'pgbackrest.conf'), 'utf8')).not.toMatch(/undefined/)
    } finally {
      writeFileSync(file, good)
    }
  })
})

describe('a hung S3 server', () => {
  it('[fault] does not hold repo1 back: archiving never fails, a repo1 backup runs, status names the queue for repo2, which ships once S3 answers', async () => {
    const hung = pidsOf(t.stateDir).s3rver!
    const archiver = async () =>
      (
        await query<{ last: string; failed: number }>(
          node(1, 'postgres'),
          `SELECT last_archived_wal AS last, failed_count::int AS failed FROM pg_stat_archiver`,
        )
      )[0]!
    let seq = 0
    const switchWal = async () => {
      await query(node(1), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('repo2-hung', $1, 'x')`, [++seq])
      const sql = `SELECT pg_walfile_name(pg_current_wal_lsn()) AS f, pg_switch_wal()`
      return (await query<{ f: string }>(node(1, 'postgres'), sql))[0]!.f
    }
    const failedBefore = (await archiver()).failed
    process.kill(hung, 'SIGSTOP')
    try {
      const segments: string[] = []
      for (let i = 0; i < 3; i++) {
        const seg = await switchWal()
        segments.push(seg)
        await waitFor(`PostgreSQL to archive ${seg}`, async () => (await archiver()).last >= seg, 120_000, 100)
      }
      // a fact, not a setting: PostgreSQL's archive_command never failed while repo2 was hung
      expect((await archiver()).failed).toBe(failedBefore)
      const backup = await runbook('backup', ['--type', 'incr', '--repo', '1', '--json'], t.env)
      expect(backup.code, backup.stderr).toBe(0)
      const queued = readdirSync(join(t.stateDir, 'pgbackrest', 'repo2-outbox')).filter((f) => !f.startsWith('.'))
      expect(queued).toEqual(expect.arrayContaining(segments))
      // once the oldest waits longer than archive_timeout, status says so plainly
      const old = new Date(Date.now() - 120_000)
      utimesSync(join(t.stateDir, 'pgbackrest', 'repo2-outbox', queued.sort()[0]!), old, old)
      const st = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout) // exit 1: unhealthy
      expect(st.offsiteQueue.files).toBeGreaterThanOrEqual(queued.length)
      expect(st.problems.join(' ')).toMatch(
        /repo2 is behind repo1: \d+ WAL file\(s\) queued for it.*repo1 is not held up/,
      )
    } finally {
      process.kill(hung, 'SIGCONT')
    }
    const last = await switchWal()
    await waitFor(
      'the queue to ship to repo2',
      async () => {
        const st = JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout)
        return st.offsiteQueue.files === 0 && st.repos[1].archiveMax >= last
      },
      120_000,
      500,
    )
  })

  it('[fault] up restarts it by pid instead of starting a second one that would orphan it; down still stops everything', async () => {
    const hung = pidsOf(t.stateDir).s3rver!
    process.kill(hung, 'SIGSTOP')
    try {
      const up = await runbook('local', ['up'], t.env)
      expect(up.code, up.stderr).toBe(0)
      expect(up.stderr).toMatch(/restarted the offsite S3 store \(it was hung\)/)
      expect(alive(hung)).toBe(false)
      const fresh = pidsOf(t.stateDir).s3rver!
      expect(fresh).not.toBe(hung)
      expect(alive(fresh)).toBe(true)
      expect(json(await runbook('local', ['status', '--json'], t.env)).repos.every((r: any) => r.healthy)).toBe(true)
    } finally {
      if (alive(hung)) process.kill(hung, 'SIGKILL')
    }
  })
})

describe('the audit log', () => {
  it('[fault] is hash-chained: an entry whose outcome is rewritten makes status say so', async () => {
    const file = t.env.LABDOJO_AUDIT_LOG!
    const ok = json(await runbook('local', ['status', '--json'], t.env))
    expect(ok.audit).toMatchObject({ ok: true })
    const original = readFileSync(file, 'utf8')
    const tampered = original.replace('"result":"ok"', '"result":"failed"')
    expect(tampered).not.toBe(original)
    writeFileSync(file, tampered)
    try {
      const r = await runbook('local', ['status', '--json'], t.env)
      expect(r.code).toBe(1)
      const s = JSON.parse(r.stdout)
      expect(s.audit.ok).toBe(false)
      expect(s.problems.join(' ')).toMatch(/audit log .* was tampered with: line \d+ does not follow line \d+/)
    } finally {
      writeFileSync(file, original)
    }
  })
})

describe('local site: down', () => {
  it('stops exactly what the site started, by pid, and frees its ports', async () => {
    const pids = pidsOf(t.stateDir)
    expect(Object.values(pids).every(alive)).toBe(true)
    const r = await runbook('local', ['down'], t.env)
    expect(r.code, r.stderr).toBe(0)
    for (const [k, pid] of Object.entries(pids)) expect(alive(pid), k).toBe(false)
    const free = await new Promise<boolean>((res) => {
      const s = createServer()
        .once('error', () => res(false))
        .listen(BASE + 1, '127.0.0.1', () => s.close(() => res(true)))
    })
    expect(free).toBe(true)
    // and up brings the same site back
    const up = await runbook('local', ['up'], t.env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stderr).toMatch(/started node1/)
  })
})
