/**
 * Restores against the cloud twin of prod (its own twin: an in-place restore starts a new
 * timeline the hot standby cannot follow, so twin.test.ts's failover could not run after it).
 * restore.ts --in-place asks PGO for its documented in-place restore (the twin runs PGO's flow:
 * the instances stop, the restore job, the restored instance bootstraps, the others re-created)
 * behind a pg_hba gate applied through Patroni; the cold site restores the replicated vault into
 * a new cluster on the workstation. The application's tables live in its own schema (PGO's
 * AutoCreateUserSchema). This replaces the kubectl stand-in and test/helpers/patroni-hba.mjs.
 * Addresses 10.178.0.0/16 (base port 27800).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { query, type Conn } from '../../runbooks/lib/adapters/postgres.ts'
import { twinEnv, type Twin } from '../../runbooks/lib/sites/twin/twin.ts'
import { archiveNow, twinDown, twinUp, until } from '../helpers/twin.ts'
import { countsFor, generatorSql, HELPER_SQL, SCHEMA_SQL } from '../../runbooks/lib/sites/local/dataset.ts'
import { nodeConn, type Inventory } from '../../core/inventory.ts'
import { portsOf } from '../helpers/ports.ts'
import { runbook } from '../helpers/site.ts'
import { waitFor } from '../../runbooks/lib/adapters/process.ts'
import { CLOUD_ERASURES, closeVaults, ledgerVaults } from '../../runbooks/lib/ops/erasure/cloud-ledger.ts'

const BASE = portsOf('twin-restore')
const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64')
let dir = ''
let twin: Twin
let inv: Inventory
let invFile = ''
let env: Record<string, string> = {}

const as = (site: string, over: Partial<Conn> = {}): Conn => ({
  ...nodeConn(inv.nodes.find((n) => n.site === site)!),
  passfile: twin.layout.passFile,
  ...over,
})
const app = () => as('primary', { user: 'labdojo' })
/** The primary's PostgresCluster as the API serves it (kubectl, with the twin's kubeconfig). */
const stored = async () => {
  const ctx = inv.nodes.find((n) => n.site === 'primary')!.kubeContext!
  const r = await run(
    'kubectl',
    ['--context', ctx, '-n', 'labdojo', 'get', 'postgrescluster', 'labdojo', '-o', 'json'],
    {
      env: { KUBECONFIG: env.KUBECONFIG },
    },
  )
  return JSON.parse(r.stdout)
}

beforeAll(async () => {
  ;({ dir, twin, inv, invFile } = await twinUp('labdojo-test-twin-restore-', BASE))
  env = { ...twinEnv(twin), LABDOJO_AUDIT_LOG: join(dir, 'audit.log') }
  // the application creates its schema as its own user (into its own schema: PGO's AutoCreateUserSchema)
  await query(app(), HELPER_SQL + SCHEMA_SQL)
  for (const p of generatorSql(countsFor(0.001))) await query(app(), p.sql)
})

afterAll(() => twinDown(dir, BASE))

/** A marker row through the application; its commit time. */
async function mark(name: string): Promise<string> {
  const [r] = await query<{ at: string }>(
    app(),
    `INSERT INTO courses (slug, title, description, level) VALUES ($1, $1, 'marker', 'beginner') RETURNING now()::text AS at`,
    [name],
  )
  return r!.at
}
/** A person's rows (the users row and their progress) in a database of the platform. */
async function personRows(c: Conn, id: number): Promise<number> {
  const [r] = await query<{ n: number }>(
    c,
    `SELECT ((SELECT count(*) FROM labdojo.users WHERE id = $1) + (SELECT count(*) FROM labdojo.user_progress WHERE user_id = $1))::int AS n`,
    [id],
  )
  return r!.n
}
/** erasure.ts erase on the twin's prod stack; its JSON. */
async function erase(id: number) {
  expect(await personRows(app(), id)).toBeGreaterThan(0)
  const r = await runbook(
    'erasure',
    ['erase', '--stack', 'prod', '--inventory', invFile, '--user', String(id), '--yes', '--json'],
    env,
  )
  expect(r.code, r.stderr).toBe(0)
  expect(await personRows(app(), id)).toBe(0)
  return JSON.parse(r.stdout)
}
const markers = async (c: Conn) =>
  (
    await query<{ title: string }>(c, `SELECT title FROM labdojo.courses WHERE description = 'marker' ORDER BY title`)
  ).map((x) => x.title)

describe('restore.ts --in-place --stack prod against the twin: PGO restores the primary cluster where it is', () => {
  it('--dry-run plans against the vault and prints the exact patch; the cluster object is untouched', async () => {
    const before = (await stored()).metadata.resourceVersion
    const r = await runbook(
      'restore',
      ['--stack', 'prod', '--inventory', invFile, '--in-place', '--target', 'latest', '--dry-run'],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/"restore":\{"enabled":true,"repoName":"repo1","options":\["--set=\d{8}-\d{6}F/)
    expect((await stored()).metadata.resourceVersion).toBe(before)
  })

  it.each([
    [['--target', '2001-01-01T00:00:00Z', '--yes'], /--target/],
    [['--target', 'latest', '--repo', '2', '--yes'], /--repo/],
    [['--target', 'latest', '--into', '/var/tmp/x', '--yes'], /--in-place.*--into/],
    [['--target', 'latest'], /--yes/],
  ])('refuses %j before asking PGO anything (exit 2)', async (args, why) => {
    const before = (await stored()).metadata.resourceVersion
    const r = await runbook('restore', ['--stack', 'prod', '--inventory', invFile, '--in-place', ...args], env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(why)
    expect((await stored()).metadata.resourceVersion).toBe(before)
  })

  it('--yes to a point in time: clients are refused by the gate while PGO restores (through Patroni), the data is the target, the timeline new, then the gate is lifted and the application logs in', async () => {
    await mark('in-place-before')
    await new Promise((r) => setTimeout(r, 1100))
    const target = new Date().toISOString()
    await new Promise((r) => setTimeout(r, 1100))
    // a person erased after the target: the restored data holds them again, the ledger purges them
    const erased = await erase(7)
    expect(erased.rows.users).toBe(1)
    expect(erased.offsite).toMatch(/recorded in repo1 \(s3:\/\/.*\) and repo2 \(s3:\/\//)
    await mark('in-place-after')
    await archiveNow(as('primary'))
    // an application logging in all along: what the gate told it
    const seen: string[] = []
    let watching = true
    const watcher = (async () => {
      while (watching) {
        seen.push(
          await query(app(), 'SELECT 1').then(
            () => 'in',
            (e: Error) => e.message,
          ),
        )
        await new Promise((r) => setTimeout(r, 300))
      }
    })()
    const r = await runbook(
      'restore',
      ['--stack', 'prod', '--inventory', invFile, '--in-place', '--target', target, '--yes', '--json'],
      env,
    )
    watching = false
    await watcher
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ mode: 'in-place', job: { finished: true, succeeded: 1 } })
    expect(JSON.parse(r.stdout).erasures).toMatch(
      /re-applied the cloud erasure ledger before serving: [1-9]\d* row\(s\) of 1 erased person/,
    )
    expect(await personRows(as('primary'), 7)).toBe(0)
    expect(seen.some((x) => /pg_hba\.conf rejects connection .*"labdojo"/.test(x))).toBe(true)
    expect(await markers(as('primary'))).toEqual(['in-place-before'])
    const [tl] = await query<{ t: number }>(as('primary'), 'SELECT timeline_id AS t FROM pg_control_checkpoint()')
    expect(tl!.t).toBeGreaterThan(1)
    const o = await stored()
    expect(o.status.pgbackrest.restore).toMatchObject({ finished: true, succeeded: 1 })
    expect(o.spec.backups.pgbackrest.restore.enabled).toBe(false)
    expect(o.spec.patroni.dynamicConfiguration.postgresql.pg_hba).toBeUndefined()
    await until(
      async () =>
        await query(app(), 'SELECT 1').then(
          () => true,
          () => false,
        ),
    )
    expect(r.stderr).toMatch(/the standby clusters \(hot\) replayed the old history/)
  })
})

describe('the cloud erasure ledger (one object per record in each S3 vault)', () => {
  it('a record altered in one vault: every restore refuses before asking PGO anything, naming the vault; put back, it plans again', async () => {
    const vaults = await ledgerVaults(inv, env)
    try {
      const repo2 = vaults.find((v) => v.name.startsWith('repo2'))!
      const [first] = await repo2.store.list(CLOUD_ERASURES.prefix)
      const chunks: Buffer[] = []
      for await (const c of await repo2.store.get(first!.key)) chunks.push(c as Buffer)
      const put = (b: Buffer) => repo2.store.put(first!.key, Readable.from([b]), b.length, md5(b))
      const original = Buffer.concat(chunks)
      const before = (await stored()).metadata.resourceVersion
      const dryRun = ['--stack', 'prod', '--inventory', invFile, '--in-place', '--target', 'latest', '--dry-run']
      await put(Buffer.from(original.toString('utf8').replace('"user":7', '"user":9')))
      try {
        const r = await runbook('restore', dryRun, env)
        expect(r.code, r.stderr).toBe(1)
        expect(r.stderr).toMatch(/erasure ledger cannot be trusted: repo2 .*does not match/)
        const cold = await runbook(
          'restore',
          [
            '--stack',
            'prod',
            '--inventory',
            invFile,
            '--target',
            'latest',
            '--into',
            join(dir, 'never'),
            '--port',
            String(BASE + 61),
          ],
          env,
        )
        expect(cold.code, cold.stderr).toBe(1)
        expect(cold.stderr).toMatch(/erasure ledger cannot be trusted/)
      } finally {
        await put(original)
      }
      expect((await runbook('restore', dryRun, env)).code).toBe(0)
      expect((await stored()).metadata.resourceVersion).toBe(before)
    } finally {
      closeVaults(vaults)
    }
  })
})

describe('restore.ts --stack prod --into: the cold site restores the replicated vault into a new cluster here', () => {
  it("reads repo 2 (the replica vault, by the program's S3 replication), restores to a time into a new directory as postgres, finds the platform in the application's schema, and purges the people erased after that time", async () => {
    const into = join(dir, 'cold')
    const port = BASE + 60
    await new Promise((r) => setTimeout(r, 1100))
    const target = new Date().toISOString()
    await new Promise((r) => setTimeout(r, 1100))
    await erase(8)
    await archiveNow(as('primary'))
    // the replica vault must hold WAL past the target before a restore to it can end there
    await waitFor(
      'repo 2 to hold WAL past the target',
      async () => {
        const c = await runbook('catalog', ['--stack', 'prod', '--inventory', invFile, '--json'], env)
        const repo2 = JSON.parse(c.stdout || '{"repos":[]}').repos.find((x: { repo: number }) => x.repo === 2)
        return (repo2?.latestTime ?? '') > target
      },
      300_000,
      2000,
    )
    const r = await runbook(
      'restore',
      [
        '--stack',
        'prod',
        '--inventory',
        invFile,
        '--repo',
        '2',
        '--target',
        target,
        '--into',
        into,
        '--port',
        String(port),
        '--json',
      ],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect([report.mode, report.repo, report.dataDir]).toEqual(['new-cluster', 2, into])
    const cold = { host: `/tmp/labdojo-cold-restore-${port}`, port, database: 'labdojo' }
    expect((await markers(cold)).length).toBeGreaterThanOrEqual(1)
    expect([await personRows(cold, 7), await personRows(cold, 8)]).toEqual([0, 0])
    expect(report.notes.join(' ')).toMatch(
      /re-applied the cloud erasure ledger before serving: [1-9]\d* row\(s\) of 2 erased person/,
    )
    for (const secret of [env.LABDOJO_REPO_CIPHER_PASS!, env.AWS_SECRET_ACCESS_KEY!])
      expect(r.stdout + r.stderr + readFileSync(env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain(secret)
    await run(
      'runuser',
      ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', 'stop', '-D', into, '-m', 'fast'],
      {
        nothrow: true,
      },
    )
  })
})
