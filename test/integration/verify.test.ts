/**
 * verify.ts on a real local site: a backup is proven only when its restore, stopped at the exact
 * LSN the warm standby is paused at, equals the warm standby table by table and is structurally
 * sound. A flipped byte in the backup and a WAL segment missing from its range each fail the
 * proof with the cause named; the warm standby replays again and no scratch cluster is left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import {
  testSite,
  runbook,
  startRunbook,
  json,
  dropScratch,
  pidsOf,
  localSiteOf,
  type TestSite,
} from '../helpers/site.ts'
import { Readable } from 'node:stream'
import { postmasterPid, query } from '../../runbooks/lib/adapters/postgres.ts'
import { eatmydataLibrary } from '../../runbooks/lib/adapters/eatmydata.ts'
import { waitFor, walkFiles } from '../../runbooks/lib/adapters/process.ts'
import { verifyChain } from '../../runbooks/lib/output/evidence.ts'
import { LABDOJO_TABLES } from '../../core/platform.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('verify')
let t: TestSite
const node = (n: number, db = 'labdojo') => ({ host: '127.0.0.1', port: BASE + n, database: db })

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.005'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  const w = await runbook('workload', ['start', '--rate', '50', '--json'], t.env)
  if (w.code !== 0) throw new Error(w.stderr)
  await new Promise((r) => setTimeout(r, 1500))
  await runbook('workload', ['stop'], t.env)
})
afterAll(async () => {
  await t?.cleanup()
})

/** After any proof: the warm standby (node3) replays again, and no scratch cluster is left. */
async function siteUntouched(): Promise<void> {
  const [r] = await query<{ s: string }>(node(3), `SELECT pg_get_wal_replay_pause_state()::text AS s`)
  expect(r!.s).toBe('not paused')
  const scratch = join(t.stateDir, 'scratch')
  expect(readdirSync(scratch).filter((d) => d.startsWith('verify-'))).toEqual([])
}

/** A process's environment, as the kernel holds it. */
const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')

const ledger = () => join(t.stateDir, 'evidence.jsonl')

describe('verify.ts', () => {
  it('proves the newest backup of each repo equal to the warm standby at one exact LSN, and records it', async () => {
    const r = await runbook('verify', ['--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const { proofs } = JSON.parse(r.stdout)
    expect(proofs.map((p: any) => [p.repo, p.verdict])).toEqual([
      [1, 'proven'],
      [2, 'proven'],
    ])
    for (const p of proofs) {
      expect(p.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
      expect(p.tables).toBeGreaterThanOrEqual(LABDOJO_TABLES.length)
      expect(p.digest).toMatch(/^[0-9a-f]{64}$/)
      expect(p.structure).toEqual({ amcheck: [], foreignKeys: [], sequences: [], checksums: [] })
      expect(p.objectives.rtoSeconds).toBeGreaterThan(0)
      expect(p.scratch).toMatchObject({ kept: false, synced: false })
      expect(p.reason).toMatch(/first write after [\d.]+ s unsynced/)
    }
    await siteUntouched()
    // the restores left the site's spool alone (the primary's archive-push status files live there)
    expect(existsSync(join(t.stateDir, 'pgbackrest', 'spool', 'archive', 'labdojo', 'out'))).toBe(true)
    const lines = readFileSync(ledger(), 'utf8').trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(verifyChain(ledger())).toMatchObject({ ok: true, entries: 2 })
    // nothing is pending once both are proven
    const again = await runbook('verify', ['--backup', 'pending'], t.env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/nothing to prove/)
  })

  it('[fault] a flipped byte in the backup fails its proof, naming the backup and the repo', async () => {
    const label = json(await runbook('catalog', ['--json'], t.env)).repos[0].backups.at(-1).label
    const dir = join(t.stateDir, 'repo1', 'backup', 'labdojo', label, 'pg_data', 'base')
    const victim = walkFiles(dir)
      .filter((f) => statSync(f).size > 4096)
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!
    const original = readFileSync(victim)
    const flipped = Buffer.from(original)
    const at = Math.floor(flipped.length / 2)
    flipped[at] = flipped[at]! ^ 0xff
    writeFileSync(victim, flipped)
    try {
      const r = await runbook('verify', ['--backup', label, '--repo', '1', '--json'], t.env)
      expect(r.code, r.stderr).toBe(1)
      const [p] = JSON.parse(r.stdout).proofs
      expect(p.verdict).toBe('failed')
      expect(p.reason).toMatch(new RegExp(`^pgBackRest could not restore ${label} from repo1: `))
      await siteUntouched()
    } finally {
      writeFileSync(victim, original)
    }
    expect(verifyChain(ledger())).toMatchObject({ ok: true, entries: 3 })
  })

  it('[fault] a WAL segment missing from the range fails the proof, naming the segment', async () => {
    const full = await runbook('backup', ['--type', 'full', '--repo', '1', '--json'], t.env)
    expect(full.code, full.stderr).toBe(0)
    const admin = node(1, 'postgres')
    const [{ s: segment }] = (await query<{ s: string }>(
      admin,
      `SELECT pg_walfile_name(pg_current_wal_lsn()) AS s`,
    )) as [{ s: string }]
    await query(node(1), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('verify-gap', 1, 'x')`)
    await query(admin, 'SELECT pg_switch_wal()')
    await query(node(1), `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('verify-gap', 2, 'x')`)
    const [{ after }] = (await query<{ after: string }>(admin, `SELECT pg_current_wal_lsn()::text AS after`)) as [
      { after: string },
    ]
    await query(admin, 'SELECT pg_switch_wal()')
    // the proof's reference is wherever the warm standby is paused: once it has replayed past the
    // segment (which it fetched from repo1), a restore to that point needs the segment
    for (let i = 0; i < 1200; i++) {
      const [{ past }] = (await query<{ past: boolean }>(
        node(3),
        `SELECT pg_last_wal_replay_lsn() >= '${after}'::pg_lsn AS past`,
      )) as [{ past: boolean }]
      if (past) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const archive = join(t.stateDir, 'repo1', 'archive', 'labdojo', '15-1', segment.slice(0, 16))
    let file = ''
    for (let i = 0; i < 600 && !file; i++) {
      file = existsSync(archive) ? (readdirSync(archive).find((f) => f.startsWith(`${segment}-`)) ?? '') : ''
      if (!file) await new Promise((r) => setTimeout(r, 100))
    }
    const path = join(archive, file)
    renameSync(path, `${path}.aside`)
    try {
      const r = await runbook('verify', ['--backup', 'latest', '--repo', '1', '--json'], t.env)
      expect(r.code, r.stderr).toBe(1)
      const [p] = JSON.parse(r.stdout).proofs
      expect(p.verdict).toBe('failed')
      expect(p.reason).toMatch(new RegExp(`does not restore to .*${segment} is missing from repo1's WAL archive`))
      await siteUntouched()
    } finally {
      renameSync(`${path}.aside`, path)
    }
  })

  it('[fault] a restore a commit short of the reference fails its proof, naming where it stopped and the rows that differ', async () => {
    // fault injection: the restore stops just before the last commit before X, as a short restore would
    const rows = async (n: number) =>
      Number((await query<{ n: string }>(node(n), 'SELECT count(*)::text AS n FROM drill_ledger'))[0]!.n)
    const before = await rows(1)
    await runbook('workload', ['start', '--rate', '100'], t.env)
    try {
      // the warm standby (the reference) has replayed some of the workload's commits, so the last commit
      // before its X is one of them (on a loaded machine the writer's first commit can come after the
      // segment the reference stops at, and a commit short of X would then change no table)
      await waitFor(
        "the workload's commits to reach the warm standby",
        async () => {
          await query(node(1, 'postgres'), 'SELECT pg_switch_wal()')
          return (await rows(3)) > before
        },
        120_000,
        500,
      )
      const r = await runbook('verify', ['--backup', 'latest', '--repo', '1', '--json'], {
        ...t.env,
        LABDOJO_FAULT_PROOF: 'commit-short',
      })
      expect(r.code, r.stderr).toBe(1)
      const [p] = JSON.parse(r.stdout).proofs
      expect(p.verdict).toBe('failed')
      expect(p.reason).toMatch(
        /stopped at \S+, not at the warm standby's \S+: 1 table\(s\) differ, first public\.drill_ledger \(reference (\d+) rows, restore \d+ rows; /,
      )
      const [, ref, res] = /reference (\d+) rows, restore (\d+) rows/.exec(p.reason)!
      expect(Number(ref) - Number(res)).toBe(1)
    } finally {
      await runbook('workload', ['stop'], t.env)
    }
    await siteUntouched()
  })

  it('[fault] killed midway (kill -9), it leaves the warm standby paused and its scratch cluster; up resumes one and removes the other', async () => {
    const v = startRunbook('verify', ['--backup', 'latest', '--repo', '1'], t.env)
    const scratch = join(t.stateDir, 'scratch')
    const paused = async () =>
      (await query<{ s: string }>(node(3), `SELECT pg_get_wal_replay_pause_state()::text AS s`))[0]!.s === 'paused'
    const running = () =>
      readdirSync(scratch).some((d) => d.startsWith('verify-') && existsSync(join(scratch, d, 'postmaster.pid')))
    for (let i = 0; i < 1200 && !(running() && (await paused())); i++) await new Promise((r) => setTimeout(r, 50))
    expect(running() && (await paused())).toBe(true)
    process.kill(v.pid, 'SIGKILL')
    await v.done
    // a scratch cluster thrown away once read is never synced: its server runs with fsync off and
    // under eatmydata (as did the restore that wrote it)
    const dir = join(
      scratch,
      readdirSync(scratch).find((d) => d.startsWith('verify-'))!,
    )
    expect(readFileSync(join(dir, 'postmaster.opts'), 'utf8')).toMatch(/"fsync=off"/)
    expect(environOf(postmasterPid(dir)!)).toContain(`LD_PRELOAD=${eatmydataLibrary()}`)
    expect(await paused()).toBe(true) // nothing could clean up: that is up's job now
    const up = await runbook('local', ['up'], t.env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stderr + up.stdout).toMatch(/removed the scratch cluster of a killed runbook: .*verify-/)
    expect(up.stderr + up.stdout).toMatch(/resumed node3's replay/)
    await siteUntouched()
    expect(readdirSync(scratch).filter((d) => d.startsWith('verify-'))).toEqual([])
  })

  it('--keep: the kept scratch cluster is written durably (fsync on, no eatmydata), and its proof says synced', async () => {
    const r = await runbook('verify', ['--backup', 'latest', '--repo', '1', '--keep', '--json'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const [p] = JSON.parse(r.stdout).proofs
    expect(p.scratch).toMatchObject({ kept: true, synced: true })
    expect(p.reason).not.toMatch(/unsynced/)
    try {
      const [f] = await query<{ fsync: string }>(
        { host: '127.0.0.1', port: p.scratch.port, database: 'postgres' },
        'SHOW fsync',
      )
      expect(f!.fsync).toBe('on')
      expect(environOf(postmasterPid(p.scratch.dir)!).filter((e) => e.startsWith('LD_PRELOAD='))).toEqual([])
    } finally {
      await dropScratch(p.scratch.dir)
    }
    await siteUntouched()
  })

  it('[fault] a repo that cannot be listed (its S3 server stopped) fails the run, naming it: never "nothing to prove"', async () => {
    const s3 = pidsOf(t.stateDir).s3rver!
    process.kill(s3, 'SIGSTOP')
    try {
      for (const backup of ['latest', 'pending']) {
        const r = await runbook('verify', ['--repo', '2', '--backup', backup, '--json'], t.env)
        expect(r.code, r.stderr).toBe(1)
        const out = JSON.parse(r.stdout)
        expect(out.proofs).toEqual([])
        expect(out.unlisted).toEqual([{ repo: 2, reason: expect.stringMatching(/repo2 cannot be listed/) }])
      }
      const text = await runbook('verify', ['--repo', '2'], t.env)
      expect(text.code).toBe(1)
      expect(text.stdout).toMatch(/^FAILED repo2 cannot be listed, so none of its backups was proven: .*S3/m)
      expect(text.stdout).not.toMatch(/nothing to prove/)
    } finally {
      process.kill(s3, 'SIGCONT')
    }
  })

  it('refuses a bad --backup or --repo with exit 2, pausing nothing', async () => {
    const bad = await runbook('verify', ['--backup', 'yesterday'], t.env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--backup.*latest, pending or a backup label/)
    const unknown = await runbook('verify', ['--backup', '20200101-000000F'], t.env)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/no such backup/)
    const repo = await runbook('verify', ['--repo', '3'], t.env)
    expect(repo.code).toBe(2)
    await siteUntouched()
  })
})

describe('evidence.ts', () => {
  it('verify catches an edited record, and a forged ledger with its chain recomputed (by the offsite copy)', async () => {
    const ok = await runbook('evidence', ['verify', '--json'], t.env)
    expect(ok.code, ok.stderr).toBe(0)
    const check = JSON.parse(ok.stdout)
    expect(check).toMatchObject({ ok: true, offsite: 'matches' })
    expect(check.offsiteRecords).toBe(check.records)
    const original = readFileSync(ledger(), 'utf8')
    const failed = original.split('\n').findIndex((l) => l.includes('"verdict":"failed"'))
    expect(failed).toBeGreaterThanOrEqual(0)
    const edited = original.split('\n')
    edited[failed] = edited[failed]!.replace('"verdict":"failed"', '"verdict":"proven"')
    try {
      writeFileSync(ledger(), edited.join('\n'))
      const r = await runbook('evidence', ['verify'], t.env)
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(new RegExp(`line ${failed + 2} does not follow line ${failed + 1}`))
      // the forger recomputes every hash link: the chain holds, the offsite copy does not
      let prev = ''
      const rechained = edited.filter(Boolean).map((l) => {
        const line = JSON.stringify({ ...JSON.parse(l), prev })
        prev = createHash('sha256').update(line).digest('hex')
        return line
      })
      writeFileSync(ledger(), rechained.join('\n') + '\n')
      expect(verifyChain(ledger()).ok).toBe(true)
      const forged = await runbook('evidence', ['verify'], t.env)
      expect(forged.code).toBe(1)
      expect(forged.stdout).toMatch(new RegExp(`record ${failed + 1} differs from its offsite copy`))
    } finally {
      writeFileSync(ledger(), original)
    }
    expect((await runbook('evidence', ['verify'], t.env)).code).toBe(0)
  })

  it('[fault] a local record whose offsite copy was deleted fails verify, though its chain holds', async () => {
    const { offsiteStore } = await import('../../runbooks/lib/sites/local/offsite-store.ts')
    const store = offsiteStore(localSiteOf(t).layout)
    try {
      const keys = (await store.list('evidence/')).map((o) => o.key).sort()
      expect(keys.length).toBeGreaterThanOrEqual(3)
      const victim = keys[1]!
      const chunks: Buffer[] = []
      for await (const c of await store.get(victim)) chunks.push(c as Buffer)
      await store.delete(victim)
      try {
        const r = await runbook('evidence', ['verify'], t.env)
        expect(r.code).toBe(1)
        expect(r.stdout).toMatch(/record 2 is missing from the offsite copy, which holds record \d+: deleted there/)
      } finally {
        const body = Buffer.concat(chunks)
        await store.put(victim, Readable.from([body]), body.length)
      }
      expect((await runbook('evidence', ['verify'], t.env)).code).toBe(0)
    } finally {
      store.close()
    }
  })

  it("[fault] the audit log's tail edited or cut off is caught by its offsite anchors, which the chain alone misses", async () => {
    const file = t.env.LABDOJO_AUDIT_LOG!
    const status = async () => JSON.parse((await runbook('local', ['status', '--json'], t.env)).stdout).audit
    const clean = await status()
    expect(clean).toMatchObject({ ok: true })
    expect(clean.anchors).toBeGreaterThan(0)
    const original = readFileSync(file, 'utf8')
    const lines = original.trimEnd().split('\n')
    try {
      // the last line's result changed from ok to failed, its hash link kept: the chain cannot see it
      const last = JSON.parse(lines.at(-1)!)
      expect(last.result).toBe('ok')
      writeFileSync(file, [...lines.slice(0, -1), JSON.stringify({ ...last, result: 'failed' })].join('\n') + '\n')
      expect(verifyChain(file).ok).toBe(true)
      const edited = await status()
      expect(edited.ok).toBe(false)
      expect(edited.problem).toMatch(new RegExp(`line ${lines.length} is not the line anchored offsite`))
      // the last three lines deleted
      writeFileSync(file, lines.slice(0, -3).join('\n') + '\n')
      expect(verifyChain(file).ok).toBe(true)
      const cut = await status()
      expect(cut.ok).toBe(false)
      expect(cut.problem).toMatch(/line\(s\) \d+-\d+ were removed/)
      const text = await runbook('local', ['status'], t.env)
      expect(text.stdout).toMatch(/audit .*ALTERED: the log has/)
    } finally {
      writeFileSync(file, original)
    }
    expect(await status()).toMatchObject({ ok: true })
  })

  it('sign records a human sign-off; due says what is due and never fakes the rest', async () => {
    const bad = await runbook('evidence', ['sign', '--item', 'nap', '--by', 'Ada'], t.env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--item.*training/)
    const r = await runbook('evidence', ['sign', '--item', 'training', '--by', 'Ada Lovelace'], t.env)
    expect(r.code, r.stderr).toBe(0)
    const due = await runbook('evidence', ['due', '--json'], t.env)
    expect(due.code).toBe(1) // the others were never signed
    const items = Object.fromEntries(JSON.parse(due.stdout).due.map((d: any) => [d.item, d]))
    expect(items.training).toMatchObject({ overdue: false, last: { by: 'Ada Lovelace' } })
    expect(items['plan-review']).toMatchObject({ overdue: true, last: null })
    expect((await runbook('evidence', ['verify'], t.env)).code).toBe(0)
  })
})
