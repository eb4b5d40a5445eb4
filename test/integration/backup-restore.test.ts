/**
 * Backups, the recovery catalog and point-in-time restore, on a real local site with a
 * steady writer: every commit acknowledged before a target is restored, none after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  existsSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  statSync,
  chmodSync,
  openSync,
  writeSync,
  closeSync,
  renameSync,
  rmSync,
  mkdtempSync,
  symlinkSync,
} from 'node:fs'
import { join } from 'node:path'
import { execFileSync, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import {
  testSite,
  runbook,
  json,
  serverNow,
  dropScratch,
  pidsOf,
  alive,
  localSiteOf,
  ROOT,
  type TestSite,
} from '../helpers/site.ts'
import { query } from '../../runbooks/lib/adapters/postgres.ts'
import { PgBackRest } from '../../runbooks/lib/adapters/pgbackrest.ts'
import type { Runner } from '../../runbooks/lib/adapters/exec.ts'
import { repoCatalog } from '../../runbooks/lib/ops/catalog/catalog.ts'
import { acked, lostCommits } from '../../runbooks/lib/sites/local/workload.ts'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { verifyExport } from '../../runbooks/lib/ops/exports/logical-export.ts'
import { localOffsite, verifyOffsiteExport } from '../../runbooks/lib/ops/exports/offsite.ts'
import { processesWith, waitFor } from '../../runbooks/lib/adapters/process.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('backup-restore')
let t: TestSite
let l: ReturnType<typeof layout>
const primary = { host: '127.0.0.1', port: BASE + 1, database: 'labdojo' }
const endpoint = { host: '127.0.0.1', port: BASE, database: 'labdojo' }
let writer = ''
const cut = { time: 0, lsn: 0, lsnAfter: 0, point: 0, pointAfter: 0 }
let lsnTarget = ''

/** Every ack before `cutoff` is in the restored cluster, and no row inserted after `lateAfter`. */
async function exact(port: number, cutoff: number, lateAfter = cutoff) {
  const restored = { host: '127.0.0.1', port, database: 'labdojo' }
  const rows = await query<{ seq: string }>(restored, 'SELECT seq::text FROM drill_ledger WHERE writer = $1', [writer])
  const present = new Set(rows.map((r) => Number(r.seq)))
  const before = acked(l, writer).filter((a) => a.at < cutoff)
  const missing = before.filter((a) => !present.has(a.seq))
  const [late] = await query<{ n: number }>(
    restored,
    'SELECT count(*)::int AS n FROM drill_ledger WHERE writer = $1 AND committed_at > $2',
    [writer, new Date(lateAfter)],
  )
  return { ackedBefore: before.length, missing: missing.length, late: late!.n }
}

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.005'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  l = layout(t.stateDir, BASE, '/var/lib/postgresql')
  writer = json(await runbook('workload', ['start', '--rate', '100', '--json'], t.env)).writer
  await new Promise((r) => setTimeout(r, 1500))
  cut.time = await serverNow(BASE + 1)
  await new Promise((r) => setTimeout(r, 1000))
  // an LSN or a restore point is taken between two clock readings: acks before the first must
  // be restored, rows inserted after the second must not
  cut.lsn = await serverNow(BASE + 1)
  lsnTarget = (await query<{ l: string }>(primary, 'SELECT pg_current_wal_insert_lsn()::text AS l'))[0]!.l
  cut.lsnAfter = await serverNow(BASE + 1)
  await new Promise((r) => setTimeout(r, 1000))
  cut.point = await serverNow(BASE + 1)
  const rp = await runbook('backup', ['--restore-point', 'before-risky-work'], t.env)
  if (rp.code !== 0) throw new Error(rp.stderr)
  cut.pointAfter = await serverNow(BASE + 1)
  await new Promise((r) => setTimeout(r, 1000))
  await runbook('workload', ['stop'], t.env)
  await query({ ...primary, database: 'postgres' }, 'SELECT pg_switch_wal()')
})
afterAll(async () => {
  await t?.cleanup()
})

describe('backups', () => {
  it("takes a diff into both repos and an incr into repo1, as the policy's storage says, from the hot standby", async () => {
    const diff = json(await runbook('backup', ['--type', 'diff', '--json'], t.env))
    expect(diff.map((r: any) => [r.type, r.repo])).toEqual([
      ['diff', 1],
      ['diff', 2],
    ])
    const incr = json(await runbook('backup', ['--type', 'incr', '--json'], t.env))
    expect([incr.type, incr.repo, incr.source]).toEqual(['incr', 1, 'node2'])
    expect(incr.notes[0]).toMatch(/from hot standby node2/)
    expect(incr.label.split('_')[0]).toBe(diff[0].label.split('_')[0]) // same full underneath
    expect(incr.copiedBytes).toBeLessThan(incr.sizeBytes)
    for (const k of ['startLsn', 'stopLsn', 'startTime', 'stopTime', 'durationSeconds']) expect(incr[k]).toBeTruthy()
  })

  it('[fault] a killed runuser wrapper: the backup pgBackRest went on to finish is reported done, as the repo shows it', async () => {
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const child = spawn(
      process.execPath,
      ['--import', tsx, join(ROOT, 'runbooks', 'backup.ts'), '--type', 'incr', '--repo', '1', '--json'],
      { env: { ...process.env, NODE_OPTIONS: '', ...t.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)))
    const conf = `--config=${join(t.stateDir, 'pgbackrest', 'pgbackrest.conf')}`
    // the wrapper is killed once pgBackRest itself runs under it (killed earlier, nothing was started)
    const [wrapper] = await waitFor(
      "the backup's runuser wrapper, with pgBackRest running under it",
      async () => {
        const p = processesWith((argv) => argv[0] === 'runuser' && argv.includes(conf) && argv.includes('backup'))
        const br = processesWith(
          (argv) => !!argv[0]?.endsWith('pgbackrest') && argv.includes(conf) && argv.includes('backup'),
        )
        return p.length && br.length ? p : undefined
      },
      60_000,
      5,
    )
    process.kill(wrapper!, 'SIGKILL')
    expect(await exited, stderr).toBe(0)
    const r = JSON.parse(stdout)
    expect(r.notes.join(' ')).toMatch(/the backup command ended with an error .* but pgBackRest went on and finished/)
    const catalog = JSON.parse((await runbook('catalog', ['--json'], t.env)).stdout)
    expect(catalog.repos[0].backups.map((b: any) => b.label)).toContain(r.label)
  })

  it('writes a logical export (pg_dump -Fd + user-progress CSV) with a manifest and SHA-256 sums that catch tampering', async () => {
    const recs = json(await runbook('backup', ['--type', 'logical', '--json'], t.env))
    // the policy's storage for exports: primary (repo1's export dir) and secondary (offsite)
    expect(recs.map((r: any) => r.repo)).toEqual([1, 2])
    const [rec, off] = recs
    const dir = rec.location
    expect(readdirSync(dir).sort()).toEqual(['SHA256SUMS', 'manifest.json', 'pg_dump', 'user_progress.csv.gz'])
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect((await verifyExport(dir)).ok).toBe(true)
    const header = execFileSync('sh', ['-c', `zcat "${dir}/user_progress.csv.gz" | head -1`], {
      encoding: 'utf8',
    }).trim()
    expect(header).toBe('user_id,progress_data,achievements,favorites,last_updated')
    const toc = execFileSync('/usr/lib/postgresql/15/bin/pg_restore', ['-l', `${dir}/pg_dump`], { encoding: 'utf8' })
    expect(toc).toMatch(/TABLE DATA public user_progress/)

    // offsite: sealed in the bucket, and it reads back whole
    expect(off.location).toBe(`s3://labdojo-backups/exports/${rec.label}/`)
    const stored = join(l.s3.data, 'labdojo-backups', 'exports', rec.label, 'user_progress.csv.gz._S3rver_object')
    const bytes = readFileSync(stored)
    expect(bytes.subarray(0, 4).toString()).toBe('LDX1')
    // no gzip stream in the clear: no 32-byte window of the plaintext file is in the bucket (a 3-byte
    // gzip magic would turn up by chance in a few MB of ciphertext: that check flaked in CI)
    const plain = readFileSync(join(dir, 'user_progress.csv.gz'))
    for (const at of [0, Math.floor(plain.length / 2), plain.length - 32])
      expect(bytes.includes(plain.subarray(at, at + 32))).toBe(false)
    const o = localOffsite(localSiteOf(t))
    try {
      expect(await verifyOffsiteExport(o, rec.label)).toMatchObject({
        ok: true,
        bad: [],
        files: 1 + readdirSync(join(dir, 'pg_dump')).length,
      })
      const fd = openSync(stored, 'r+')
      writeSync(fd, Buffer.from([bytes[200]! ^ 0xff]), 0, 1, 200)
      closeSync(fd)
      const v = await verifyOffsiteExport(o, rec.label)
      expect(v.ok).toBe(false)
      expect(v.bad).toEqual([expect.stringMatching(/^user_progress.csv.gz \(sealed file failed authentication/)])
    } finally {
      o.store.close()
    }

    const csv = join(dir, 'user_progress.csv.gz')
    const fd = openSync(csv, 'r+')
    writeSync(fd, Buffer.from('tampered'), 0, 8, 100)
    closeSync(fd)
    expect(await verifyExport(dir)).toEqual({ ok: false, bad: ['user_progress.csv.gz'] })
  })

  it('a logical export with --repo 1 stays local, with --repo 2 leaves no local copy', async () => {
    const local = json(await runbook('backup', ['--type', 'logical', '--repo', '1', '--json'], t.env))
    expect(local.repo).toBe(1)
    expect(existsSync(join(l.s3.data, 'labdojo-backups', 'exports', local.label))).toBe(false)
    await new Promise((r) => setTimeout(r, 1100)) // labels have one-second resolution
    const offsite = json(await runbook('backup', ['--type', 'logical', '--repo', '2', '--json'], t.env))
    expect(offsite.repo).toBe(2)
    expect(existsSync(join(l.pgbackrest.repo1, 'exports', offsite.label))).toBe(false)
    const o = localOffsite(localSiteOf(t))
    try {
      expect((await verifyOffsiteExport(o, offsite.label)).ok).toBe(true)
    } finally {
      o.store.close()
    }
  })

  it('refuses a bad --type and a bad --repo with exit 2', async () => {
    const a = await runbook('backup', ['--type', 'weekly'], t.env)
    expect([a.code, /--type.*full, diff, incr, logical/.test(a.stderr)]).toEqual([2, true])
    const b = await runbook('backup', ['--type', 'full', '--repo', '3'], t.env)
    expect([b.code, /--repo.*must be 1, 2 or all/.test(b.stderr)]).toEqual([2, true])
  })
})

describe('the recovery catalog', () => {
  it('reports earliest and latest recoverable points for both repos, the latest from archived WAL', async () => {
    const c = json(await runbook('catalog', ['--json'], t.env))
    expect(c.repos.map((r: any) => r.repo)).toEqual([1, 2])
    for (const r of c.repos) {
      expect(r.reachable).toBe(true)
      expect(Date.parse(r.earliestTime)).toBeLessThan(cut.time)
      // the last commit before the restore point's WAL switch is recoverable
      expect(Date.parse(r.latestTime)).toBeGreaterThan(cut.point)
      expect(r.verdicts.map((v: any) => v.ok)).toEqual([true, true, true])
    }
    expect(c.restorePoints.map((p: any) => p.name)).toContain('before-risky-work')
  })

  it("refuses a repo whose backups a newer pgBackRest wrote, naming both versions (this machine's 2.45 cannot read 2.54's block incremental)", async () => {
    const site = localSiteOf(t)
    const pgPath = site.layout.node(site.state().primary).data
    // the repo as it is, read by the real pgBackRest; only the answer to `pgbackrest version` is an older one's
    const older: Runner = (cmd, args, opts) =>
      cmd === 'pgbackrest' && args[0] === 'version'
        ? Promise.resolve({ code: 0, stdout: 'pgBackRest 2.40\n', stderr: '' })
        : site.run(cmd, args, opts)
    const refused = await repoCatalog(site.run, new PgBackRest(older, site.br.target), 1, pgPath)
    expect(refused.reachable).toBe(false)
    expect(refused.error).toMatch(
      /^repo1 holds backups written by pgBackRest 2\.45 \(.+\); this machine's pgBackRest is 2\.40/,
    )
    const same = await repoCatalog(site.run, site.br, 1, pgPath)
    expect(same.reachable, same.error).toBe(true)
  })
})

describe('point-in-time restore into a new cluster', () => {
  it.each([
    ['time', () => new Date(cut.time).toISOString(), () => [cut.time, cut.time]],
    ['LSN', () => `lsn:${lsnTarget}`, () => [cut.lsn, cut.lsnAfter]],
    ['restore point', () => 'name:before-risky-work', () => [cut.point, cut.pointAfter]],
  ] as [string, () => string, () => number[]][])(
    'by %s: every acknowledged commit before the target present, none after it',
    async (_, target, cutoffs) => {
      const primaryPid = pidsOf(t.stateDir).node1
      const r = json(await runbook('restore', ['--target', target(), '--json'], t.env))
      try {
        expect(r.mode).toBe('new-cluster')
        const [before, after] = cutoffs() as [number, number]
        const e = await exact(r.port, before!, after!)
        expect(e.ackedBefore).toBeGreaterThan(50)
        expect(e).toMatchObject({ missing: 0, late: 0 })
        expect(primaryPid).toBeTruthy()
        expect(pidsOf(t.stateDir).node1).toBe(primaryPid) // the running primary is untouched: the same process
      } finally {
        await dropScratch(r.dataDir)
      }
    },
  )

  it('restores from repo2 (S3, encrypted) alone, as the cold site would', async () => {
    const r = json(await runbook('restore', ['--target', 'latest', '--repo', '2', '--json'], t.env))
    try {
      expect(r.repo).toBe(2)
      expect(readFileSync(join(r.dataDir, 'postgresql.auto.conf'), 'utf8')).toMatch(
        /restore_command = '.*--repo=2 --archive-async=n archive-get/,
      )
      const e = await exact(r.port, cut.point)
      expect(e.missing).toBe(0)
      const [a] = await query<{ n: number }>(
        { host: '127.0.0.1', port: r.port, database: 'labdojo' },
        'SELECT count(*)::int AS n FROM users',
      )
      const [b] = await query<{ n: number }>(primary, 'SELECT count(*)::int AS n FROM users')
      expect(a!.n).toBe(b!.n)
    } finally {
      await dropScratch(r.dataDir)
    }
  })

  it('--dry-run prints the plan (backup set, repo, WAL, target) and changes nothing', async () => {
    const before = existsSync(l.scratchDir) ? readdirSync(l.scratchDir) : []
    const r = await runbook('restore', ['--target', new Date(cut.time).toISOString(), '--dry-run'], t.env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/backup set: .*\n.*WAL replay: .*\n.*window:/s)
    expect(r.stdout).toMatch(/dry run: nothing was changed/)
    expect(readdirSync(l.scratchDir)).toEqual(before)
  })
})

describe('restore refuses bad input with exit 2, naming the valid range, changing nothing', () => {
  it.each([
    [
      'a target before the earliest point',
      ['--target', '2000-01-01T00:00:00Z'],
      /outside every recoverable window: repo1 can recover from .* to /,
    ],
    ['a target after the latest point', ['--target', '2100-01-01T00:00:00Z'], /outside every recoverable window/],
    ['a malformed time', ['--target', '2026-11-26 25:61'], /--target.*not a recovery target/],
    ['a time without a zone', ['--target', '2026-11-26T04:00:00'], /time zone/],
    ['an unknown restore point', ['--target', 'name:no-such-point'], /unknown restore point; known: before-risky-work/],
    ['a target directory that is not empty', ['--target', 'latest', '--into', '/etc'], /--into.*is not empty/],
    ['a port out of range', ['--target', 'latest', '--port', '80'], /--port.*1024 to 65535/],
    [
      "a port outside the site's scratch ports (its password file covers those alone)",
      ['--target', 'latest', '--port', '28015'],
      /--port.*must be one of the site's scratch ports \d+\.\.\d+/,
    ],
    ['a port in hex', ['--target', 'latest', '--port', '0x6D6A'], /--port.*1024 to 65535/],
  ])('%s', async (_, args, msg) => {
    const before = readdirSync(l.scratchDir)
    const r = await runbook('restore', args, t.env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(msg)
    expect(readdirSync(l.scratchDir)).toEqual(before)
  })

  it('a target directory inside a live data directory, a repo or the site state', async () => {
    const cases: [string, RegExp][] = [
      [join(l.node('node1').data, 'pg_tblspc'), /inside the PostgreSQL data directory .*nodes\/node1\/data/],
      [join(l.pgbackrest.repo1, 'mine'), /is inside repo1/],
      [join(l.stateDir, 'mine'), /is inside the site's state .*only its scratch area/],
    ]
    for (const [into, msg] of cases) {
      const before = readdirSync(l.scratchDir)
      const r = await runbook('restore', ['--target', 'latest', '--into', into], t.env)
      expect(r.code, `${into}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(msg)
      expect(readdirSync(l.scratchDir)).toEqual(before)
    }
    expect(readdirSync(join(l.node('node1').data, 'pg_tblspc'))).toEqual([])
  })

  it('a path through a symlink into repo1, the secrets or the state; --files into the live tree or the secrets; report --out into a data directory', async () => {
    const links = mkdtempSync('/var/tmp/labdojo-links-')
    try {
      symlinkSync(l.pgbackrest.repo1, join(links, 'to-repo1'))
      symlinkSync(l.secrets.dir, join(links, 'to-secrets'))
      symlinkSync(l.stateDir, join(links, 'to-state'))
      symlinkSync(l.node('node1').data, join(links, 'to-data'))
      const cases: [string, string[], RegExp][] = [
        ['restore', ['--target', 'latest', '--into', join(links, 'to-repo1', 'restored')], /--into.*is inside repo1/],
        [
          'restore',
          ['--target', 'latest', '--into', join(links, 'to-secrets', 'x')],
          /--into.*inside the site's secrets/,
        ],
        [
          'restore',
          ['--target', 'latest', '--into', join(links, 'to-state', 'mine')],
          /--into.*inside the site's state/,
        ],
        [
          'restore',
          ['--files', '--class', 'uploads', '--into', join(l.app.root, 'restored')],
          /--into.*the live application tree/,
        ],
        [
          'restore',
          ['--files', '--class', 'uploads', '--into', join(links, 'to-secrets', 'up')],
          /--into.*the site's secrets/,
        ],
        ['report', ['--out', join(links, 'to-data', 'reports')], /--out.*inside the PostgreSQL data directory/],
        ['report', ['--out', join(links, 'to-repo1')], /--out.*is repo1/],
      ]
      for (const [rb, args, msg] of cases) {
        const before = readdirSync(l.scratchDir)
        const r = await runbook(rb, args, t.env)
        expect(r.code, `${rb} ${args.join(' ')}: ${r.stderr}`).toBe(2)
        expect(r.stderr).toMatch(msg)
        expect(readdirSync(l.scratchDir)).toEqual(before)
      }
      expect(existsSync(join(l.pgbackrest.repo1, 'restored'))).toBe(false)
      expect(existsSync(join(l.node('node1').data, 'reports'))).toBe(false)
    } finally {
      rmSync(links, { recursive: true, force: true })
    }
  })

  it('a wrong cipher pass for repo2', async () => {
    const r = await runbook('restore', ['--target', 'latest', '--repo', '2'], {
      ...t.env,
      PGBACKREST_REPO2_CIPHER_PASS: 'not-the-pass-at-all',
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--repo.*repo2 is unreachable/)
    expect(r.stderr).not.toContain('not-the-pass-at-all')
  })

  it('[fault] a missing cipher pass: restore, backup, catalog and up refuse, and up makes no new one', async () => {
    const f = l.secrets.pgbackrest
    renameSync(f, `${f}.aside`)
    try {
      const before = readdirSync(l.scratchDir)
      const repo1Before = readdirSync(join(l.pgbackrest.repo1, 'backup', 'labdojo'))
      for (const [rb, args] of [
        ['restore', ['--target', 'latest', '--repo', '1']],
        ['backup', ['--type', 'full', '--repo', '1']],
        ['catalog', []],
        ['local', ['up']],
      ] as const) {
        const r = await runbook(rb, [...args], t.env)
        expect(r.code, `${rb}: ${r.stderr}`).toBe(2)
        expect(r.stderr).toMatch(/repo2 cipher pass/)
        expect(r.stderr).toContain(`${f} does not exist`)
        expect(r.stderr).toMatch(/secret store/)
      }
      expect(existsSync(f)).toBe(false)
      expect(readdirSync(l.scratchDir)).toEqual(before)
      expect(readdirSync(join(l.pgbackrest.repo1, 'backup', 'labdojo'))).toEqual(repo1Before)
      // the documented way through for one run: the pass and the S3 keys from the environment
      const kv = Object.fromEntries(
        readFileSync(`${f}.aside`, 'utf8')
          .split('\n')
          .map((x) => /^([\w-]+)=(.+)$/.exec(x))
          .filter((m) => m !== null)
          .map((m) => [`PGBACKREST_${m[1]!.toUpperCase().replace(/-/g, '_')}`, m[2]!]),
      )
      const onlyPass = await runbook('catalog', ['--json'], {
        ...t.env,
        PGBACKREST_REPO2_CIPHER_PASS: kv.PGBACKREST_REPO2_CIPHER_PASS!,
      })
      expect(onlyPass.code).toBe(2)
      expect(onlyPass.stderr).toMatch(/PGBACKREST_REPO2_S3_KEY, PGBACKREST_REPO2_S3_KEY_SECRET are not set/)
      const withEnv = await runbook('catalog', ['--json'], { ...t.env, ...kv })
      expect(withEnv.code, withEnv.stderr).toBe(0)
      expect(JSON.parse(withEnv.stdout).repos.map((r: any) => r.reachable)).toEqual([true, true])
      expect(withEnv.stdout + withEnv.stderr).not.toContain(kv.PGBACKREST_REPO2_CIPHER_PASS!)
    } finally {
      renameSync(`${f}.aside`, f)
    }
  })

  it('[fault] a read-only repo1: the backup is refused at once, naming the repo (it used to wait 60 s and blame archive_command)', async () => {
    const mode = statSync(l.pgbackrest.repo1).mode & 0o777
    chmodSync(l.pgbackrest.repo1, 0o555)
    try {
      const before = readdirSync(join(l.pgbackrest.repo1, 'backup', 'labdojo'))
      const r = await runbook('backup', ['--type', 'incr', '--repo', '1'], t.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/repo1 is unreachable: .*repo1 is not writable by the site user.*nothing was backed up/s)
      expect(readdirSync(join(l.pgbackrest.repo1, 'backup', 'labdojo'))).toEqual(before)
    } finally {
      chmodSync(l.pgbackrest.repo1, mode)
    }
  })

  it('[fault] an unreachable repo (the S3 server is down)', async () => {
    const pid = pidsOf(t.stateDir).s3rver!
    process.kill(pid, 'SIGTERM')
    await waitFor(
      's3rver to stop',
      async () => {
        try {
          process.kill(pid, 0)
          return false
        } catch {
          return true
        }
      },
      10_000,
    )
    try {
      const r = await runbook('restore', ['--target', 'latest', '--repo', '2'], t.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/repo2 is unreachable/)
      const exportsBefore = readdirSync(join(l.pgbackrest.repo1, 'exports'))
      for (const args of [
        ['--type', 'logical'],
        ['--type', 'full'],
      ]) {
        const b = await runbook('backup', args, t.env)
        expect([b.code, b.stderr]).toEqual([
          2,
          expect.stringMatching(/repo2 is unreachable: the S3 endpoint .* nothing was backed up[\s\S]*--repo 1/),
        ])
      }
      expect(readdirSync(join(l.pgbackrest.repo1, 'exports'))).toEqual(exportsBefore)
    } finally {
      expect((await runbook('local', ['up'], t.env)).stderr).toMatch(/started the offsite S3 store/)
    }
  })
})

describe('in-place restore', () => {
  it('[fault] a restore that fails midway (corrupt backup) leaves the original running and untouched', async () => {
    const rec = json(await runbook('backup', ['--type', 'full', '--repo', '1', '--json'], t.env))
    // corrupt every relation file of the new full backup
    const base = join(l.pgbackrest.repo1, 'backup', 'labdojo', rec.label, 'pg_data', 'base')
    let n = 0
    for (const db of readdirSync(base))
      for (const f of readdirSync(join(base, db))) {
        const p = join(base, db, f)
        if (statSync(p).size > 64) {
          writeFileSync(p, Buffer.alloc(statSync(p).size, 7))
          n++
        }
      }
    expect(n).toBeGreaterThan(10)
    await query(primary, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('keep-me', 1, 'x')`)
    const before = pidsOf(t.stateDir)
    const r = await runbook('restore', ['--target', 'latest', '--repo', '1', '--in-place', '--yes'], t.env)
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/abandoned before the swap: the primary node1 is running and untouched/)
    expect(pidsOf(t.stateDir)).toEqual(before)
    expect(readdirSync(join(t.stateDir, 'nodes', 'node1')).filter((f) => f.includes('restoring'))).toEqual([])
    const [k] = await query<{ n: number }>(
      endpoint,
      `SELECT count(*)::int AS n FROM drill_ledger WHERE writer = 'keep-me'`,
    )
    expect(k!.n).toBe(1)
    // leave repo1 with a good newest backup
    expect((await runbook('backup', ['--type', 'full', '--repo', '1'], t.env)).code).toBe(0)
  })

  it('asks for confirmation: no terminal and no --yes refuses, nothing changed', async () => {
    const r = await runbook('restore', ['--target', 'name:before-risky-work', '--in-place'], t.env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/refusing without confirmation.*--yes/)
  })

  it('restores to a restore point, verifies before the swap, keeps the old directory, rebuilds the standbys', async () => {
    await query(
      primary,
      `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('after-the-point', 1, 'must disappear')`,
    )
    const r = json(
      await runbook('restore', ['--target', 'name:before-risky-work', '--in-place', '--yes', '--json'], t.env),
    )
    expect(r.mode).toBe('in-place')
    expect(r.keptOldDataDirs[0]).toMatch(/nodes\/node1\/data\.replaced-/)
    expect(existsSync(r.keptOldDataDirs[0])).toBe(true)
    const [gone] = await query<{ n: number }>(
      endpoint,
      `SELECT count(*)::int AS n FROM drill_ledger WHERE writer IN ('after-the-point', 'keep-me')`,
    )
    expect(gone!.n).toBe(0)
    const e = await exact(BASE + 1, cut.point)
    expect(e.missing).toBe(0)
    const s = json(await runbook('local', ['status', '--json'], t.env))
    expect(s.healthy, JSON.stringify(s.problems)).toBe(true)
    expect(s.endpoint.target).toBe('node1')
    await query(endpoint, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('after-restore', 1, 'x')`)
    await waitFor(
      'node2 to replay the write',
      async () =>
        (await query({ ...primary, port: BASE + 2 }, `SELECT 1 FROM drill_ledger WHERE writer = 'after-restore'`))
          .length === 1,
      30_000,
    )
    // the restore's own recovery settings (staging path, target) reached no node: node.conf rules
    for (const n of ['node1', 'node2', 'node3'])
      expect(readFileSync(join(l.node(n as 'node1').data, 'postgresql.auto.conf'), 'utf8'), n).not.toMatch(
        /pgBackRest|recovery_target|restoring-/,
      )
  })
})

describe('Ctrl-C', () => {
  it('[fault] during a restore: stops at a safe point, removes the partial restore, says what was done and how to finish', async () => {
    const before = readdirSync(l.scratchDir)
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const child = spawn(
      process.execPath,
      ['--import', tsx, join(ROOT, 'runbooks', 'restore.ts'), '--target', 'latest'],
      {
        env: { ...process.env, NODE_OPTIONS: '', ...t.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)))
    await waitFor('the restore to begin', async () => readdirSync(l.scratchDir).length > before.length, 60_000, 10)
    child.kill('SIGINT')
    expect(await exited).toBe(130)
    expect(stderr).toMatch(
      /interrupted by SIGINT at a safe point: clean-up ran.*the partial restore was removed.*steps done: plan restore.*to finish:/s,
    )
    expect(readdirSync(l.scratchDir)).toEqual(before)
    expect(pidsOf(t.stateDir).node1).toBeTruthy()
    const audit = readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x))
    expect(audit.some((e) => e.runbook === 'restore.ts' && e.result === 'interrupted')).toBe(true)
  })
})

describe('in-place restore to latest', () => {
  it("under a workload: no acknowledged commit is lost (the primary's last WAL is archived at the fence, then replayed)", async () => {
    const w = json(await runbook('workload', ['start', '--rate', '100', '--json'], t.env)).writer
    let restored: Awaited<ReturnType<typeof runbook>>
    try {
      await new Promise((r) => setTimeout(r, 3000))
      restored = await runbook('restore', ['--target', 'latest', '--in-place', '--yes', '--json'], t.env)
      await new Promise((r) => setTimeout(r, 1000))
    } finally {
      await runbook('workload', ['stop'], t.env)
    }
    const r = json(restored)
    expect(r.mode).toBe('in-place')
    expect(r.notes.join(' ')).toMatch(/latest = every commit node1 acknowledged before the endpoint was fenced/)
    const acks = acked(l, w)
    expect(acks.length).toBeGreaterThan(200)
    expect(await lostCommits(endpoint, acks)).toEqual([])
    const s = json(await runbook('local', ['status', '--json'], t.env))
    expect(s.healthy, JSON.stringify(s.problems)).toBe(true)
  })

  it('[fault] with the primary down: refused (exit 2), naming the newest archived commit and --accept-data-loss; nothing changed', async () => {
    let restarted: { code: number; stderr: string }
    const pid = pidsOf(t.stateDir).node1!
    process.kill(pid, 'SIGKILL')
    await waitFor('node1 to die', async () => !alive(pid), 30_000)
    try {
      const before = readdirSync(join(l.stateDir, 'nodes', 'node1'))
      const r = await runbook('restore', ['--target', 'latest', '--in-place', '--yes'], t.env)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(
        /primary node1 does not answer .*newest archived one \(.*LSN .*\) would be lost.*--accept-data-loss/s,
      )
      expect(readdirSync(join(l.stateDir, 'nodes', 'node1'))).toEqual(before)
    } finally {
      restarted = await runbook('local', ['up'], t.env)
    }
    expect(restarted.code, restarted.stderr).toBe(0)
  })
})

describe('a WAL segment missing from or unreadable in repo1', () => {
  let segment = ''
  let file = ''
  let target = 0
  let targetAcksFrom = ''
  const aside = () => `${file}.moved-aside`

  beforeAll(async () => {
    const full = await runbook('backup', ['--type', 'full', '--json'], t.env)
    if (full.code !== 0) throw new Error(full.stderr)
    // the first segment after the backup holds commits before the target
    const admin = { ...endpoint, database: 'postgres' }
    segment = (await query<{ s: string }>(admin, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS s'))[0]!.s
    targetAcksFrom = json(await runbook('workload', ['start', '--rate', '100', '--json'], t.env)).writer
    await new Promise((r) => setTimeout(r, 1500))
    await query(admin, 'SELECT pg_switch_wal()')
    await new Promise((r) => setTimeout(r, 1000))
    target = await serverNow(BASE + 1)
    await new Promise((r) => setTimeout(r, 1000))
    await runbook('workload', ['stop'], t.env)
    const last = (await query<{ s: string }>(admin, 'SELECT pg_walfile_name(pg_switch_wal()) AS s'))[0]!.s
    // both repos hold everything up to the last switch
    await waitFor(
      'the WAL to reach both repos',
      async () => {
        const c = json(await runbook('catalog', ['--json'], t.env))
        return c.repos.every((r: any) => r.archiveMax && r.archiveMax.slice(8) >= last.slice(8))
      },
      120_000,
      500,
    )
    const dir = join(l.pgbackrest.repo1, 'archive', 'labdojo', '15-1', segment.slice(0, 16))
    file = join(
      dir,
      readdirSync(dir).find((f) => f.startsWith(`${segment}-`))!,
    )
  })

  afterAll(() => {
    if (existsSync(aside())) renameSync(aside(), file)
  })

  it('[fault] missing: the catalog shows the gap and the windows as they are; a restore across it comes from repo2 and says so', async () => {
    renameSync(file, aside())
    const cat = await runbook('catalog', ['--json'], t.env)
    expect(cat.code, cat.stderr).toBe(1) // a flagged tier makes the catalog exit 1
    const c = JSON.parse(cat.stdout)
    const [repo1, repo2] = c.repos
    expect(
      repo1.gaps.map((g: any) => g.firstMissing),
      JSON.stringify({ error: repo1.error, archiveMax: repo1.archiveMax }),
    ).toEqual([segment])
    expect(repo1.windows.at(-1).to.time).toBeLessThan(target)
    expect(repo1.verdicts.every((v: any) => !v.ok)).toBe(true)
    expect(repo1.verdicts[0].findings.join(' ')).toMatch(new RegExp(`WAL ${segment} is missing from repo1's archive`))
    expect(repo2.gaps).toEqual([])
    expect(Date.parse(repo1.latestTime)).toBeLessThan(target) // repo1 alone cannot reach the target any more

    const r = json(await runbook('restore', ['--target', new Date(target).toISOString(), '--json'], t.env))
    try {
      expect(r.repo).toBe(2)
      expect(r.notes.join(' ')).toMatch(/repo1 does not cover/)
      const restored = { host: '127.0.0.1', port: r.port, database: 'labdojo' }
      const rows = await query<{ seq: string }>(restored, 'SELECT seq::text FROM drill_ledger WHERE writer = $1', [
        targetAcksFrom,
      ])
      const present = new Set(rows.map((x) => Number(x.seq)))
      const before = acked(l, targetAcksFrom).filter((a) => a.at < target)
      expect(before.length).toBeGreaterThan(50)
      expect(before.filter((a) => !present.has(a.seq))).toEqual([])
    } finally {
      await dropScratch(r.dataDir)
    }

    const only1 = await runbook('restore', ['--target', new Date(target).toISOString(), '--repo', '1'], t.env)
    expect(only1.code).toBe(2)
    expect(only1.stderr).toMatch(/outside every recoverable window: repo1 can recover from .* to /)
    // the refusal names the missing segment, not only the window
    expect(only1.stderr).toMatch(new RegExp(`WAL segment ${segment} is missing from repo1's archive`))
    // latest into a new cluster from repo1 says where it stops (dry run: the plan's notes)
    const latest1 = await runbook('restore', ['--target', 'latest', '--repo', '1', '--dry-run', '--json'], t.env)
    expect(latest1.code, latest1.stderr).toBe(0)
    expect(JSON.parse(latest1.stdout).plan.notes.join(' ')).toMatch(
      new RegExp(`latest from repo1 is NOT the newest commit: WAL segment ${segment} is missing`),
    )
    // in place: refused before the fence (it used to fence, stop every node and wait for WAL that could not come)
    const pidsBefore = pidsOf(t.stateDir)
    const inPlace = await runbook('restore', ['--in-place', '--target', 'latest', '--repo', '1', '--yes'], t.env)
    expect(inPlace.code, inPlace.stderr).toBe(2)
    expect(inPlace.stderr).toMatch(
      new RegExp(`WAL segment ${segment} is missing from repo1's archive .*nothing was changed`),
    )
    expect(pidsOf(t.stateDir)).toEqual(pidsBefore)
    await query(endpoint, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('gap-check', 1, 'served')`)
    renameSync(aside(), file)
  })

  it('[fault] unreadable: the restore stops at once, naming the segment after the last one restored, and leaves nothing behind', async () => {
    if (existsSync(aside())) renameSync(aside(), file) // whatever the test before left
    renameSync(file, aside())
    writeFileSync(file, Buffer.alloc(4096, 0x5a))
    try {
      const scratchBefore = existsSync(l.scratchDir) ? readdirSync(l.scratchDir) : []
      const r = await runbook('restore', ['--target', new Date(target).toISOString(), '--repo', '1'], t.env)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(
        new RegExp(`recovery ended before the target: ${segment} is missing from repo1's WAL archive or unreadable`),
      )
      expect(r.stderr).toMatch(/the partial restore was removed/)
      expect(existsSync(l.scratchDir) ? readdirSync(l.scratchDir) : []).toEqual(scratchBefore)
      expect(pidsOf(t.stateDir).node1).toBeTruthy()
    } finally {
      rmSync(file, { force: true })
      renameSync(aside(), file)
    }
  })
})
