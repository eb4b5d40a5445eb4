/**
 * catalog.ts and monitor.ts on a cloud stack (issue 14, deliverable 4; issue 12, deliverable 6):
 * the repos of a cloud-format inventory, read straight with real pgBackRest from an S3 server on
 * 127.0.0.1 (the local site's offsite repo stands in for the prod vault), credentials from the
 * environment only; the inventory's nodes are the local site's real PostgreSQL, its endpoint the
 * real PgBouncer. Only PGO's API is simulated: a `kubectl` on PATH answers with a PostgresCluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testSite, runbook, json, type TestSite } from '../helpers/site.ts'
import { layout, BUCKET, STANZA } from '../../runbooks/lib/sites/local/layout.ts'
import { readSecrets } from '../../runbooks/lib/sites/local/secrets.ts'
import { Postgres, postmasterPid, query } from '../../runbooks/lib/adapters/postgres.ts'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { waitFor } from '../../runbooks/lib/adapters/process.ts'
import { WebhookReceiver } from '../../runbooks/lib/adapters/webhook-receiver.ts'
import { cloudInventory } from '../helpers/cloud-inventory.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('cloud-stack')
let t: TestSite
let dir = ''
let inventory = ''
let env: Record<string, string> = {}

beforeAll(async () => {
  t = testSite(BASE)
  const up = await runbook('local', ['up', '--scale', '0.002'], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  const l = layout(t.stateDir, BASE, '/var/lib/postgresql')
  dir = mkdtempSync('/var/tmp/labdojo-cloud-catalog-test-')
  chmodSync(dir, 0o755) // the restored cluster's directory goes in here, the site user's
  inventory = join(dir, 'prod.json')
  const repo = {
    index: 2,
    type: 's3',
    path: '/pgbackrest',
    bucket: BUCKET,
    endpoint: `127.0.0.1:${l.ports.s3}`,
    region: 'us-east-1',
    encrypted: true,
    site: 'primary',
  }
  const nodes = [
    { name: 'primary', site: 'primary', role: 'primary', port: BASE + 1, kubeContext: 'ctx-primary' },
    { name: 'hot', site: 'hot', role: 'standby', port: BASE + 2, kubeContext: 'ctx-hot' },
  ] as const
  writeFileSync(
    inventory,
    JSON.stringify(cloudInventory({ nodes: [...nodes], repos: [repo], endpointPort: BASE, stanza: STANZA })),
  )
  const s = readSecrets(l)
  env = {
    ...t.env,
    AWS_ACCESS_KEY_ID: s['repo2-s3-key']!,
    AWS_SECRET_ACCESS_KEY: s['repo2-s3-key-secret']!,
    LABDOJO_REPO_CIPHER_PASS: s['repo2-cipher-pass']!,
    LABDOJO_S3_CA_FILE: l.s3.cert,
  }
  // PGO's view of the primary cluster's scheduled backups: a full that succeeded (after a failed
  // pod: retried), an incr whose job failed, a diff still running
  const status = {
    metadata: { name: 'labdojo', namespace: 'labdojo' },
    status: {
      pgbackrest: {
        scheduledBackups: [
          {
            cronJobName: 'labdojo-repo1-full',
            repo: 'repo1',
            type: 'full',
            startTime: '2026-11-29T01:00:00Z',
            succeeded: 1,
            failed: 1,
          },
          {
            cronJobName: 'labdojo-repo1-incr',
            repo: 'repo1',
            type: 'incr',
            startTime: '2026-11-29T02:00:00Z',
            failed: 2,
          },
          {
            cronJobName: 'labdojo-repo1-diff',
            repo: 'repo1',
            type: 'diff',
            startTime: '2026-11-29T03:00:00Z',
            active: 1,
          },
        ],
      },
    },
  }
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(status))
  writeFileSync(
    join(dir, 'kubectl'),
    `#!/bin/sh\necho "$@" >> "${dir}/kubectl.calls"\ncase "$2" in ctx-primary) cat "${dir}/cluster.json";; *) echo '{"metadata":{"name":"labdojo","namespace":"labdojo"}}';; esac\n`,
  )
  chmodSync(join(dir, 'kubectl'), 0o755)
})
afterAll(async () => {
  const cold = join(dir, 'cold')
  if (dir && postmasterPid(cold)) await new Postgres(run).stop(cold, 'immediate').catch(() => {})
  rmSync(`/tmp/labdojo-cold-restore-${BASE + 60}`, { recursive: true, force: true }) // its socket directory
  await t?.cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('catalog.ts --stack prod --inventory FILE', () => {
  it("reads the S3 vault with pgBackRest: the same backups, WAL range and latest point the site's own catalog shows", async () => {
    const local = json(await runbook('catalog', ['--json'], t.env)).repos.find((r: any) => r.repo === 2)
    const r = await runbook('catalog', ['--stack', 'prod', '--inventory', inventory, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const cloud = JSON.parse(r.stdout)
    expect(cloud.stack).toBe('prod')
    const repo = cloud.repos[0]
    expect(repo.reachable, repo.error).toBe(true)
    expect(repo.backups.map((b: any) => b.label)).toEqual(local.backups.map((b: any) => b.label))
    expect(repo.backups.length).toBeGreaterThan(0)
    expect(repo.archiveMin).toBe(local.archiveMin)
    expect(repo.earliestTime).toBe(local.earliestTime)
    expect(repo.latestTime).not.toBeNull()
    // no secret in the output or the audit log; none was an argument
    for (const secret of [env.LABDOJO_REPO_CIPHER_PASS!, env.AWS_SECRET_ACCESS_KEY!].filter((x) => x.length > 8)) {
      expect(r.stdout + r.stderr).not.toContain(secret)
      expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain(secret)
    }
  })

  it('refuses without credentials or cipher pass (exit 2), naming the variables to set', async () => {
    const { LABDOJO_REPO_CIPHER_PASS: _p, AWS_ACCESS_KEY_ID: _k, ...bare } = env
    const r = await runbook('catalog', ['--stack', 'prod', '--inventory', inventory], {
      ...bare,
      AWS_ACCESS_KEY_ID: '',
      LABDOJO_REPO_CIPHER_PASS: '',
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.*LABDOJO_REPO_CIPHER_PASS/s)
  })
})

/** value of one series in Prometheus text format (undefined: absent) */
function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

describe('monitor.ts --stack prod --inventory FILE (the exporter of a cloud stack)', () => {
  // CloudWatch's stand-in: the exporter publishes PrimaryUp there for the DNS failover record's health
  let cloudwatch: WebhookReceiver
  let cwEnv: Record<string, string> = {}
  beforeAll(async () => {
    cloudwatch = await WebhookReceiver.start()
    cwEnv = {
      LABDOJO_CLOUDWATCH_NAMESPACE: 'LabDojo/DR',
      LABDOJO_CLOUDWATCH_ENDPOINT: `http://127.0.0.1:${cloudwatch.port}`,
      AWS_REGION: 'us-east-1',
    }
  })
  afterAll(() => cloudwatch?.close())
  const published = () => cloudwatch.received.map((m) => Object.fromEntries(new URLSearchParams(m.body)))

  it("reads the nodes, the endpoint, archiving, the vault and PGO's backup jobs into the same metrics as the local site", async () => {
    const r = await runbook('monitor', ['--stack', 'prod', '--inventory', inventory, '--once'], {
      ...env,
      ...cwEnv,
      PATH: `${dir}:${process.env.PATH}`,
    })
    expect(r.code, r.stderr).toBe(0)
    const m = r.stdout
    expect(published()).toEqual([
      expect.objectContaining({
        Action: 'PutMetricData',
        Namespace: 'LabDojo/DR',
        'MetricData.member.1.MetricName': 'PrimaryUp',
        'MetricData.member.1.Value': '1',
        'MetricData.member.1.Dimensions.member.1.Name': 'Stack',
        'MetricData.member.1.Dimensions.member.1.Value': 'prod',
      }),
    ])
    expect(cloudwatch.received[0]!.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=\S+\/\d{8}\/us-east-1\/monitoring\/aws4_request/,
    )
    expect(metric(m, 'labdojo_site_up')).toBe(1)
    expect(metric(m, 'labdojo_node_up', 'node="primary",role="primary"')).toBe(1)
    expect(metric(m, 'labdojo_node_up', 'node="hot",role="hot"')).toBe(1)
    expect(metric(m, 'labdojo_replication_lag_bytes', 'node="hot",role="hot"')).toBeGreaterThanOrEqual(0)
    expect(metric(m, 'labdojo_endpoint_target', 'node="primary"')).toBe(1)
    expect(metric(m, 'labdojo_wal_archive_failing')).toBe(0)
    expect(metric(m, 'labdojo_repo_reachable', 'repo="2"')).toBe(1)
    // the vault's newest full is the one the site's own catalog shows in repo 2
    const local = json(await runbook('catalog', ['--json'], t.env)).repos.find((x: any) => x.repo === 2)
    const full = local.backups.filter((b: any) => b.type === 'full' && !b.error).at(-1)
    expect(metric(m, 'labdojo_backup_last_success_timestamp_seconds', 'repo="2",type="full"')).toBe(full.stop / 1000)
    expect(metric(m, 'labdojo_recoverable_point_timestamp_seconds', 'repo="2"')).toBeGreaterThan(0)
    // PGO's jobs: the retried full succeeded, the incr failed, the running diff is not a run yet
    expect(metric(m, 'labdojo_backup_successes_total', 'type="full"')).toBe(1)
    expect(metric(m, 'labdojo_backup_failures_total', 'type="full"')).toBe(0)
    expect(metric(m, 'labdojo_backup_failures_total', 'type="incr"')).toBe(1)
    expect(metric(m, 'labdojo_backup_failures_total', 'type="diff"')).toBe(0)
    expect(metric(m, 'labdojo_backup_successes_total', 'type="diff"')).toBe(0)
    const calls = readFileSync(join(dir, 'kubectl.calls'), 'utf8')
    expect(calls).toContain('--context ctx-primary -n labdojo get postgrescluster labdojo -o json')
    expect(calls).toContain('--context ctx-hot')
    // what the cloud cannot say is absent, never invented: no capacity of an object store, no ledger here
    expect(metric(m, 'labdojo_repo_capacity_bytes', 'repo="2"')).toBeUndefined()
    expect(metric(m, 'labdojo_evidence_ledger_present')).toBe(0)
    for (const secret of [env.LABDOJO_REPO_CIPHER_PASS!, env.AWS_SECRET_ACCESS_KEY!])
      expect(r.stdout + r.stderr).not.toContain(secret)
  })

  it('a stack whose nodes all fail to answer is reported as down (site_up 0, exit 0), not as an error', async () => {
    const down = JSON.parse(readFileSync(inventory, 'utf8'))
    down.inventory.nodes = down.inventory.nodes.map((n: any, i: number) => ({ ...n, port: BASE + 40 + i }))
    down.inventory.endpoint.port = BASE + 45
    const file = join(dir, 'down.json')
    writeFileSync(file, JSON.stringify(down))
    cloudwatch.received.length = 0
    const r = await runbook('monitor', ['--stack', 'prod', '--inventory', file, '--once'], {
      ...env,
      ...cwEnv,
      PATH: `${dir}:${process.env.PATH}`,
    })
    expect(r.code, r.stderr).toBe(0)
    expect(published().map((p) => p['MetricData.member.1.Value'])).toEqual(['0']) // this observer does not see the primary
    expect(metric(r.stdout, 'labdojo_site_up')).toBe(0)
    expect(metric(r.stdout, 'labdojo_node_up', 'node="primary",role="primary"')).toBe(0)
    expect(metric(r.stdout, 'labdojo_node_up', 'node="hot",role="hot"')).toBe(0)
    expect(metric(r.stdout, 'labdojo_replication_lag_bytes', 'node="hot",role="hot"')).toBeUndefined()
    expect(metric(r.stdout, 'labdojo_endpoint_target', 'node="primary"')).toBeUndefined()
  })

  it('refuses a --listen that is not an IPv4 address before reading anything (exit 2)', async () => {
    const r = await runbook('monitor', ['--stack', 'prod', '--inventory', inventory, '--listen', 'everywhere'], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--listen.*IPv4/)
  })
})

describe('restore.ts --stack prod --inventory FILE --target T --into DIR (the cold site path)', () => {
  // this stack's repo configurations only: the twin's exporters, in other files running beside
  // this one, write and remove their own in the same place
  const ours = (f: string) => {
    try {
      const port = layout(t.stateDir, BASE, '/var/lib/postgresql').ports.s3
      return readFileSync(join('/var/tmp', f, 'pgbackrest.conf'), 'utf8').includes(`storage-port=${port}\n`)
    } catch {
      return false
    }
  }
  const before = () => readdirSync('/var/tmp').filter((f) => f.startsWith('labdojo-cloud-repos-') && ours(f))

  it.each([
    [['--target', 'latest'], /--into.*required/],
    [['--target', 'latest', '--into', 'relative/dir'], /--into.*absolute/],
    [['--target', 'latest', '--into', '/etc'], /--into.*not empty/],
    [['--target', 'latest', '--into', '/var/tmp/x-cold', '--in-place'], /--in-place.*drop --into/],
    [['--target', 'yesterday-ish', '--into', '/var/tmp/x-cold'], /--target/],
  ])('bad input %j: exit 2, named, nothing written', async (args, why) => {
    const left = before()
    const r = await runbook('restore', ['--stack', 'prod', '--inventory', inventory, ...args], env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(why)
    expect(existsSync('/var/tmp/x-cold')).toBe(false)
    expect(before()).toEqual(left)
  })

  it('restores the vault to a point in time into a new cluster on this machine: the row before T is there, the one after is not', async () => {
    const left = before()
    const primary = { host: '127.0.0.1', port: BASE + 1, database: 'labdojo' }
    await query(primary, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('cold-before', 1, 'x')`)
    await new Promise((r) => setTimeout(r, 1100))
    const target = new Date().toISOString()
    await new Promise((r) => setTimeout(r, 1100))
    await query(primary, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('cold-after', 1, 'x')`)
    await query(primary, 'SELECT pg_switch_wal()')
    // the vault (repo 2) must hold WAL past T before a restore to T can end there
    await waitFor(
      'repo 2 to hold WAL past the target',
      async () => {
        const c = JSON.parse(
          (await runbook('catalog', ['--stack', 'prod', '--inventory', inventory, '--json'], env)).stdout,
        )
        return (c.repos[0].latestTime ?? '') > target
      },
      120_000,
      1000,
    )
    const into = join(dir, 'cold')
    const r = await runbook(
      'restore',
      [
        '--stack',
        'prod',
        '--inventory',
        inventory,
        '--target',
        target,
        '--into',
        into,
        '--port',
        String(BASE + 60),
        '--json',
      ],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect([report.mode, report.repo, report.dataDir, report.port]).toEqual(['new-cluster', 2, into, BASE + 60])
    expect(Date.parse(report.reached.time)).toBeLessThanOrEqual(Date.parse(target))
    const restored = { host: `/tmp/labdojo-cold-restore-${BASE + 60}`, port: BASE + 60, database: 'labdojo' }
    const rows = await query<{ writer: string }>(restored, `SELECT writer FROM drill_ledger WHERE writer LIKE 'cold-%'`)
    expect(rows.map((x) => x.writer)).toEqual(['cold-before'])
    const [{ rec }] = (await query<{ rec: boolean }>(restored, 'SELECT pg_is_in_recovery() AS rec')) as [
      { rec: boolean },
    ]
    expect(rec).toBe(false)
    // its own settings, not the source's; the vault's credentials are gone from the disk
    expect(readFileSync(join(into, 'labdojo-restore.conf'), 'utf8')).toContain(`port = ${BASE + 60}`)
    expect(before()).toEqual(left)
    for (const secret of [env.LABDOJO_REPO_CIPHER_PASS!, env.AWS_SECRET_ACCESS_KEY!]) {
      expect(r.stdout + r.stderr).not.toContain(secret)
      expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain(secret)
    }
  })
})

describe('verify.ts --stack prod --inventory FILE (each offsite copy proven on this machine)', () => {
  const scratch = () => readdirSync('/var/tmp').filter((f) => f.startsWith('labdojo-cloud-verify-'))

  it("proves the vault's newest backup: checksums, restored on its own, promoted, a write, structure clean; nothing left behind", async () => {
    const left = scratch()
    const r = await runbook('verify', ['--stack', 'prod', '--inventory', inventory, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const { proofs } = JSON.parse(r.stdout)
    expect(proofs).toHaveLength(1)
    expect(proofs[0]).toMatchObject({ repo: 2, verdict: 'proven', checksums: { ok: true } })
    expect(proofs[0].structure).toEqual({ amcheck: [], foreignKeys: [], sequences: [], checksums: [] })
    expect(proofs[0].objectives.rtoSeconds).toBeGreaterThan(0)
    expect(scratch()).toEqual(left)
    for (const secret of [env.LABDOJO_REPO_CIPHER_PASS!, env.AWS_SECRET_ACCESS_KEY!])
      expect(r.stdout + r.stderr).not.toContain(secret)
  })

  // the same stack with a warm site: the local site's warm standby (node3), replaying from its own archive
  const withWarm = () => {
    const raw = JSON.parse(readFileSync(inventory, 'utf8'))
    raw.inventory.sites.push({ name: 'warm', provider: 'aws', region: 'us-east-2', nodes: ['warm'] })
    raw.inventory.nodes.push({
      name: 'warm',
      site: 'warm',
      role: 'standby',
      host: '127.0.0.1',
      port: BASE + 3,
      database: 'labdojo',
      user: 'postgres',
      namespace: 'labdojo',
    })
    const f = join(dir, 'prod-warm.json')
    writeFileSync(f, JSON.stringify(raw))
    return f
  }
  const warm = { host: '127.0.0.1', port: BASE + 3, database: 'labdojo' }
  const pauseState = async () =>
    (await query<{ s: string }>(warm, `SELECT pg_get_wal_replay_pause_state()::text AS s`))[0]!.s

  it('with the warm standby as reference: the restore equals it row by row at one exact LSN; the standby replays again after', async () => {
    const r = await runbook('verify', ['--stack', 'prod', '--inventory', withWarm(), '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const [p] = JSON.parse(r.stdout).proofs
    expect(p).toMatchObject({ repo: 2, verdict: 'proven', reference: { node: 'warm' }, differences: [] })
    expect(p.reference.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
    expect(p.tables).toBeGreaterThan(5)
    expect(p.rows).toBeGreaterThan(100)
    expect(p.reason).toMatch(new RegExp(`restores on its own to ${p.reference.lsn} equal to warm there`))
    expect(await pauseState()).toBe('not paused')
  })

  it('[fault] a restore a commit short of the reference fails its proof, naming where it stopped and the table that differs', async () => {
    // a commit the warm standby has replayed: the last one before the proof's X
    const primary = { host: '127.0.0.1', port: BASE + 1, database: 'labdojo' }
    const seq = Date.now()
    await query(primary, `INSERT INTO drill_ledger (writer, seq, payload) VALUES ('cloud-proof', $1, 'last commit')`, [
      seq,
    ])
    await query(primary, 'SELECT pg_switch_wal()')
    await waitFor(
      'the warm standby to replay the commit',
      async () =>
        (await query(warm, `SELECT 1 FROM drill_ledger WHERE writer = 'cloud-proof' AND seq = $1`, [seq])).length > 0,
      120_000,
    )
    const r = await runbook('verify', ['--stack', 'prod', '--inventory', withWarm(), '--json'], {
      ...env,
      LABDOJO_FAULT_PROOF: 'commit-short',
    })
    expect(r.code, r.stderr).toBe(1)
    const [p] = JSON.parse(r.stdout).proofs
    expect(p.verdict).toBe('failed')
    expect(p.reason).toMatch(
      /^\S+ from repo2 stopped at \S+, not at warm's \S+: 1 table\(s\) differ, first public\.drill_ledger \(reference (\d+) rows, restore \d+ rows; .*missing from the restore/,
    )
    expect(await pauseState()).toBe('not paused')
  })

  it.each([
    [['--reference', 'primary'], /--reference.*must name a standby of stack prod \(hot, warm\)/],
    [['--reference', 'nosuch'], /--reference.*must name a standby/],
  ])('refuses %j before pausing or restoring anything (exit 2)', async (args, why) => {
    const left = scratch()
    const r = await runbook('verify', ['--stack', 'prod', '--inventory', withWarm(), ...args], env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(why)
    expect(scratch()).toEqual(left)
  })

  it('refuses --reference on the local site, whose reference is its warm standby (exit 2)', async () => {
    const r = await runbook('verify', ['--reference', 'node2'], t.env)
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(/--reference.*for cloud stacks/)
  })

  it('a copy with a flipped byte fails its proof (exit 1), naming the repo and what pgBackRest found', async () => {
    const l = layout(t.stateDir, BASE, '/var/lib/postgresql')
    // the biggest stored file of a backup in the vault (s3rver keeps each object as a file)
    const files = run(
      'find',
      [l.s3.data, '-path', '*/pgbackrest/backup/*', '-name', '*_S3rver_object', '-size', '+8k'],
      {
        nothrow: true,
      },
    )
    const victim = (await files).stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .sort((a, b) => statSize(b) - statSize(a))[0]!
    const bytes = readFileSync(victim)
    const at = Math.floor(bytes.length / 2)
    bytes[at] = bytes[at]! ^ 0xff
    writeFileSync(victim, bytes)
    const r = await runbook('verify', ['--stack', 'prod', '--inventory', inventory, '--json'], env)
    expect(r.code, r.stderr).toBe(1)
    const { proofs } = JSON.parse(r.stdout)
    expect(proofs[0].verdict).toBe('failed')
    expect(proofs[0].reason).toMatch(/repo2/)
    expect(proofs[0].checksums.ok).toBe(false)
  })
})

function statSize(f: string): number {
  return statSync(f).size
}
