/**
 * The application tree beside the database, for real: restic into repo1's storage and the
 * offsite S3 bucket (TLS), restores into a new directory and in place, the source as a bundle
 * plus an archive, retention by data class over snapshots with faked ages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import {
  appendFileSync,
  chmodSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { testSite, runbook, json, ROOT, type TestSite, localSiteOf } from '../helpers/site.ts'
import { LocalSite } from '../../runbooks/lib/sites/local/site.ts'
import { resticFor } from '../../runbooks/lib/sites/local/files-site.ts'
import { classTag } from '../../runbooks/lib/adapters/restic.ts'
import { walk } from '../../runbooks/lib/ops/files/files-restore.ts'
import { acquireSiteLock } from '../../runbooks/lib/sites/local/lock.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('files')
let t: TestSite
let site: LocalSite
let out = ''
const app = () => site.layout.app.root

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.002'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  site = localSiteOf(t)
  out = mkdtempSync('/var/tmp/labdojo-files-')
})
afterAll(async () => {
  await t?.cleanup()
  if (out) rmSync(out, { recursive: true, force: true })
})

/** Every file's content hash and mode, every directory's mode: what "identical" means here. */
function fingerprint(dir: string): Record<string, string> {
  const r: Record<string, string> = {}
  for (const e of walk(dir)) {
    const p = join(dir, e.path)
    const mode = (statSync(p).mode & 0o777).toString(8)
    r[e.path] =
      e.type === 'file' ? `${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}` : `${mode} ${e.type}`
  }
  return r
}

const backup = async (args: string[]) => {
  const r = await runbook('backup', [...args, '--json'], t.env)
  expect(r.code, r.stderr).toBe(0)
  const recs = JSON.parse(r.stdout)
  return Array.isArray(recs) ? recs : [recs]
}

describe('files, config and source backups into both repos', () => {
  it('backs up every class its storage names, repo1 and the offsite S3 repo; the catalog lists them as fresh', async () => {
    const files = await backup(['--type', 'files'])
    expect(files.map((r) => `${r.class}@${r.repo}`).sort()).toEqual([
      'logs@1',
      'logs@2',
      'staging@1',
      'uploads@1',
      'uploads@2',
    ])
    expect(files.find((r) => r.class === 'uploads').files).toBeGreaterThan(20)
    const config = await backup(['--type', 'config'])
    expect(config.map((r) => r.repo)).toEqual([1, 2])
    const source = await backup(['--type', 'source'])
    expect(source[0].notes.join(' ')).toMatch(
      /bundle verified, \d+ refs; working tree archived without \.git, node_modules, dist/,
    )
    const cat = await runbook('catalog', ['--json'], t.env)
    const rows = JSON.parse(cat.stdout).files as { class: string; repo: number; ok: boolean; snapshots: number }[]
    expect(rows.filter((r) => r.snapshots === 1 && r.ok).length).toBe(rows.length)
    expect(rows.length).toBe(9)
  })

  it('the offsite repo is encrypted: no file name and no upload content is in the bucket in the clear', async () => {
    const key = readFileSync(join(app(), 'config', 'tls', 'server.key'))
    const bucket = join(site.layout.s3.data)
    const blobs = spawnSync('grep', ['-rl', '--', 'certificate-3.pdf', bucket]).stdout.toString()
    expect(blobs).toBe('')
    const needle = key.subarray(40, 80).toString()
    expect(spawnSync('grep', ['-rlF', '--', needle, bucket]).stdout.toString()).toBe('')
  })

  it('the password stays out of argv and logs, in a 0600 file outside the repo', async () => {
    const pw = readFileSync(site.layout.secrets.restic, 'utf8').trim()
    expect(statSync(site.layout.secrets.restic).mode & 0o777).toBe(0o600)
    expect(site.layout.secrets.restic.startsWith(ROOT)).toBe(false)
    expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain(pw)
  })
})

describe('files backups and the site lock', () => {
  it('a files backup runs while a database runbook holds the site lock (it touches neither), so it never blocks a failover', async () => {
    const release = await acquireSiteLock(site.layout, 'test: a failover in progress')
    try {
      const db = await runbook('backup', ['--type', 'incr'], t.env)
      expect(db.code).toBe(2)
      expect(db.stderr).toMatch(/test: a failover in progress/)
      const [rec] = await backup(['--type', 'config', '--repo', '1'])
      expect(rec.class).toBe('config')
    } finally {
      release()
    }
  })
})

describe('restores', () => {
  it('--files --into: a new directory identical to the live tree, file by file (content and mode)', async () => {
    const into = join(out, 'files')
    const r = await runbook('restore', ['--files', '--class', 'uploads', '--into', into], t.env)
    expect(r.code, r.stderr).toBe(0)
    expect(fingerprint(join(into, 'uploads'))).toEqual(fingerprint(join(app(), 'uploads')))
  })

  it('--files --repo 2: the same, from the offsite repo alone', async () => {
    const into = join(out, 'files-offsite')
    const r = await runbook('restore', ['--files', '--class', 'logs', '--repo', '2', '--into', into], t.env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/from repo2/)
    expect(fingerprint(join(into, 'logs'))).toEqual(fingerprint(join(app(), 'logs')))
  })

  it('--config --in-place: the verified snapshot takes the live name, the damaged tree is kept beside it, the TLS key stays 0600', async () => {
    const before = fingerprint(join(app(), 'config'))
    appendFileSync(join(app(), 'config', 'nginx', 'labdojo.conf'), 'broken;\n')
    const r = await runbook('restore', ['--config', '--in-place', '--yes'], t.env)
    expect(r.code, r.stderr).toBe(0)
    expect(fingerprint(join(app(), 'config'))).toEqual(before)
    expect(statSync(join(app(), 'config', 'tls', 'server.key')).mode & 0o777).toBe(0o600)
    const kept = readdirSync(app()).find((f) => f.startsWith('config.replaced-'))!
    expect(readFileSync(join(app(), kept, 'nginx', 'labdojo.conf'), 'utf8')).toMatch(/broken;/)
    rmSync(join(app(), kept), { recursive: true })
  })

  it('--source --into: the checkout comes back with its history and its working tree, without node_modules or dist', async () => {
    const into = join(out, 'src')
    const r = await runbook('restore', ['--source', '--into', into], t.env)
    expect(r.code, r.stderr).toBe(0)
    const git = (dir: string, ...a: string[]) => spawnSync('git', a, { cwd: dir }).stdout.toString()
    const live = join(app(), 'source')
    const back = join(into, 'source')
    const commits = (d: string) => git(d, 'log', '--all', '--format=%H %s').split('\n').sort()
    expect(commits(back)).toEqual(commits(live))
    expect(commits(back).length).toBe(4) // three commits and the trailing newline
    expect(git(back, 'status', '--porcelain')).toBe('')
    const files = (d: string) =>
      Object.fromEntries(Object.entries(fingerprint(d)).filter(([p]) => !/^\/(\.git|node_modules|dist)(\/|$)/.test(p)))
    expect(files(back)).toEqual(files(live))
    expect(readdirSync(back)).not.toContain('node_modules')
  })

  it('--at: the newest snapshot at or before the time, not a later one', async () => {
    const file = join(app(), 'staging', 'seed-courses.json')
    const original = readFileSync(file, 'utf8')
    await new Promise((r) => setTimeout(r, 1100))
    const between = new Date().toISOString()
    await new Promise((r) => setTimeout(r, 1100))
    writeFileSync(file, '{"courses": 0}')
    await backup(['--type', 'files', '--class', 'staging'])
    const into = join(out, 'at')
    const r = await runbook('restore', ['--files', '--class', 'staging', '--at', between, '--into', into], t.env)
    expect(r.code, r.stderr).toBe(0)
    expect(readFileSync(join(into, 'staging', 'seed-courses.json'), 'utf8')).toBe(original)
    writeFileSync(file, original)
  })

  it.each([
    [['--files', '--into', 'relative/dir'], /--into.*absolute/],
    [['--files', '--into', '/var/tmp/x', '--in-place', '--yes'], /exactly one of --into DIR and --in-place/],
    [['--config', '--at', '2026-02-30T10:00:00Z', '--into', '/var/tmp/x'], /--at.*2026-02 has 28 days/],
    [['--config', '--at', '2001-01-01T00:00:00Z', '--into', '/var/tmp/x'], /no config snapshot.*at or before 2001/],
    [['--files', '--class', 'nope', '--into', '/var/tmp/x'], /--class.*uploads, logs, staging/],
    [['--files', '--target', 'latest', '--into', '/var/tmp/x'], /--target.*does not go with --files/],
  ])('bad input %j: exit 2, nothing restored', async (args, said) => {
    const before = readdirSync(app()).sort()
    const r = await runbook('restore', args as string[], t.env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(said as RegExp)
    expect(readdirSync(app()).sort()).toEqual(before)
  })
})

describe("the guide's file-system recovery (fs-recovery.ts)", () => {
  it('source damaged: stop, restore in place (old tree kept), permissions, dependencies, build, start, health check', async () => {
    const src = join(app(), 'source')
    rmSync(join(src, 'src', 'server.js'))
    chmodSync(join(src, 'build.js'), 0o666)
    const r = await runbook('fs-recovery', ['--yes', '--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.version).toBe('1.4.0')
    expect(readFileSync(join(src, 'src', 'server.js'), 'utf8')).toMatch(/health/)
    expect(statSync(join(src, 'build.js')).mode & 0o777).toBe(0o644)
    expect(report.restored.kept).toHaveLength(1)
    const health = await (await fetch(report.healthUrl)).json()
    expect(health).toEqual({ status: 'ok', version: '1.4.0' })
    expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).toMatch(/"action":"health check","result":"ok"/)
    rmSync(report.restored.kept[0], { recursive: true })
  })

  it('refuses without --yes off a terminal, changing nothing', async () => {
    const before = readdirSync(app()).sort()
    const r = await runbook('fs-recovery', [], t.env)
    expect(r.code).toBe(2)
    expect(readdirSync(app()).sort()).toEqual(before)
  })
})

describe('retention by data class', () => {
  it('prunes what is past the class retention (never the newest), and never a configuration', async () => {
    const dayMs = 86400_000
    const at = (days: number) => new Date(Date.now() - days * dayMs)
    const r1 = resticFor(site, 1)
    for (const d of [120, 60]) await r1.backup(app(), ['staging'], [classTag('staging')], at(d))
    await r1.backup(app(), ['config'], [classTag('config')], at(2000))
    const [rec] = await backup(['--type', 'files', '--class', 'staging', '--repo', '1'])
    expect(rec.pruned).toBe(1) // the 120-day-old one: tier 3 keeps 90 days
    const staging = await r1.snapshots(classTag('staging'))
    const ages = staging.map((s) => Math.round((Date.now() - Date.parse(s.time)) / dayMs))
    expect(ages).toContain(60)
    expect(ages).not.toContain(120)
    const [cfg] = await backup(['--type', 'config', '--repo', '1'])
    expect(cfg.pruned).toBe(0)
    const configs = await r1.snapshots(classTag('config'))
    expect(configs.some((s) => Date.now() - Date.parse(s.time) > 1999 * dayMs)).toBe(true)
    // what is left still restores (prune removed only data no remaining snapshot needs)
    const r = await runbook(
      'restore',
      ['--files', '--class', 'staging', '--into', join(out, 'after-prune'), '--json'],
      t.env,
    )
    expect(json(r)[0].class).toBe('staging')
  })
})

describe('proof of the snapshots (verify.ts --files)', () => {
  it('checks each repo and restores the newest snapshot of every class, compared file by file; each proof is in the ledger', async () => {
    const r = await runbook('verify', ['--files', '--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const proofs = JSON.parse(r.stdout).proofs as { class: string; repo: number; verdict: string; files: number }[]
    expect(proofs.map((p) => `${p.class}@${p.repo}`).sort()).toEqual(
      [
        'config@1',
        'config@2',
        'logs@1',
        'logs@2',
        'source@1',
        'source@2',
        'staging@1',
        'uploads@1',
        'uploads@2',
      ].sort(),
    )
    expect(proofs.every((p) => p.verdict === 'proven' && p.files > 0)).toBe(true)
    const ledger = readFileSync(site.layout.evidenceFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(ledger.filter((e) => e.kind === 'files-proof').length).toBe(9)
  })

  it('a flipped byte in a repo1 pack fails a proof (exit 1) naming the class; repo2 still proves', async () => {
    const data = join(site.layout.app.restic1, 'data')
    const packs = readdirSync(data, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name))
      .sort((a, b) => statSync(b).size - statSync(a).size)
    const victim = packs[0]!
    const buf = readFileSync(victim)
    buf[Math.floor(buf.length / 2)]! ^= 0xff
    writeFileSync(victim, buf)
    const r = await runbook('verify', ['--files', '--repo', '1', '--json'], t.env)
    expect(r.code).toBe(1)
    const failed = (JSON.parse(r.stdout).proofs as { class: string; verdict: string; reason: string }[]).filter(
      (p) => p.verdict === 'failed',
    )
    expect(failed.length).toBeGreaterThan(0)
    expect(failed[0]!.reason).toMatch(/restic|differs|hash|check/i)
    const r2 = await runbook('verify', ['--files', '--repo', '2'], t.env)
    expect(r2.code, r2.stdout + r2.stderr).toBe(0)
  })
})
