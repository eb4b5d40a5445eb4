/**
 * The cloud twin of the prod stack, for real: the program's PostgresClusters (rendered under the
 * mock runtime) run on Patroni 3.0, etcd 3.4 and PostgreSQL 15 configured as PGO 5.7 configures
 * them, the primary site and the hot site each in its own network namespace, with a Kubernetes
 * API stand-in per region (kubectl talks to it) and CloudWatch/Route53 stand-ins in the WAN.
 * What is proven here failed on the code before issue 23: a plain-TCP login and a `postgres`
 * login are refused; the runbooks log in over verified TLS as the program's named user and see
 * the primary alive; the exporters, inside their regions as the monitoring user, read the
 * standby's WAL (pg_monitor) and publish PrimaryUp 1; the primary cluster fails over inside
 * itself (Patroni); and failover.ts, with the primary region cut off, moves Route53, promotes the
 * hot cluster through PGO, and the application logs in through the endpoint with its old
 * credentials. Addresses 10.177.0.0/16 (base port 27700).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { probe, query, type Conn } from '../../runbooks/lib/adapters/postgres.ts'
import { twinEnv, type Twin } from '../../runbooks/lib/sites/twin/twin.ts'
import { archiveNow, twinDown, twinUp, until } from '../helpers/twin.ts'
import { leaderOf, members, readStatus } from '../../runbooks/lib/sites/twin/pgo.ts'
import { setRegionLink } from '../../runbooks/lib/sites/twin/network.ts'
import { alarmState } from '../../runbooks/lib/adapters/cloudwatch.ts'
import { pidAlive, readPid } from '../../runbooks/lib/adapters/process.ts'
import { endpointConn, nodeConn, type Inventory } from '../../core/inventory.ts'
import { portsOf } from '../helpers/ports.ts'
import { runbook } from '../helpers/site.ts'

const BASE = portsOf('twin')
const ROOT = new URL('../..', import.meta.url).pathname
let dir = ''
let twin: Twin
let inv: Inventory
let invFile = ''

/** A runbook from the workstation (the root namespace) or, with ns, from inside a region (as a pod would run it). */
const zx = (args: string[], env: Record<string, string> = {}, ns?: string) => {
  const [file, ...rest] = args
  if (!ns) return runbook(file!.replace(/^runbooks\/|\.ts$/g, ''), rest, env)
  return run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', file!, ...rest], {
    cwd: ROOT,
    env: { NODE_OPTIONS: '', ...env },
    nothrow: true,
    timeoutMs: 600_000,
  })
}
const secretOf = (site: string, user: string) =>
  readStatus(twin.layout.sites.find((s) => s.site === site)!).secrets[user]!

beforeAll(async () => {
  ;({ dir, twin, inv, invFile } = await twinUp('labdojo-test-twin-', BASE))
})

afterAll(() => twinDown(dir, BASE))

const route53Answer = async () =>
  ((await (await fetch(`${twin.layout.awsApi}/twin/answer?name=db.labdojo.com`)).json()) as { answer: string }).answer
const node = (site: string) => inv.nodes.find((n) => n.site === site)!
const as = (site: string, over: Partial<Conn> = {}): Conn => ({
  ...nodeConn(node(site)),
  passfile: twin.layout.passFile,
  ...over,
})

describe('the twin of prod: PGO clusters on real Patroni, etcd and TLS-only PostgreSQL', () => {
  it('runs each PostgresCluster with its spec.instances replicas, in its region, a primary cluster and a standby cluster', async () => {
    const primary = await members(twin.layout.sites.find((s) => s.site === 'primary')!)
    const hot = await members(twin.layout.sites.find((s) => s.site === 'hot')!)
    expect(primary!.map((m) => m.role).sort()).toEqual(['leader', 'sync_standby'])
    expect(hot!.map((m) => m.role).sort()).toEqual(['replica', 'standby_leader'])
    expect(twin.layout.sites.map((s) => [s.site, s.region])).toEqual([
      ['primary', 'us-east-1'],
      ['hot', 'us-west-2'],
    ])
  })

  it('the hot region is a real round trip from the primary region (us-east-1 to us-west-2, 65 ms): a query from there pays it', async () => {
    const hot = twin.layout.sites.find((s) => s.site === 'hot')!
    const primary = node('primary')
    const r = await run(
      'ip',
      [
        'netns',
        'exec',
        hot.ns,
        'psql',
        `host=${primary.host} port=${primary.port} dbname=labdojo user=labdojo-dr sslmode=require`,
        '-X',
        '-c',
        '\\timing on',
        '-c',
        'SELECT 1',
      ],
      { env: { PGPASSFILE: twin.layout.passFile } },
    )
    const ms = Number(/Time: ([\d.]+) ms/.exec(r.stdout)?.[1])
    expect(ms).toBeGreaterThanOrEqual(60)
  })

  it('refuses a plain-TCP login and a login as postgres; accepts the named user over verified TLS (defect N1)', async () => {
    const plain = await probe('plain', as('primary', { sslmode: undefined, sslRootCert: undefined }), 5000)
    expect(plain).toMatchObject({ reachable: false, refused: true })
    expect(plain.error).toMatch(/no pg_hba.conf entry .* no encryption/)
    const superuser = await probe('postgres', as('primary', { user: 'postgres' }), 5000)
    expect(superuser).toMatchObject({ reachable: false, refused: true })
    const named = await probe('labdojo-dr', as('primary'), 5000)
    expect(named).toMatchObject({ reachable: true, inRecovery: false })
    expect(node('primary')).toMatchObject({ user: 'labdojo-dr', sslmode: 'verify-full' })
    const [tls] = await query<{ ssl: boolean }>(
      as('primary'),
      'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    )
    expect(tls!.ssl).toBe(true)
  })

  it("Patroni's REST API as PGO serves it: TLS only, verified against the cluster's CA; an unsafe call needs a client certificate the CA signed", async () => {
    const c = twin.clusters.find((x) => x.layout.site === 'primary')!
    const api = `${c.layout.instances[0]!.ip}:8008`
    const curl = async (...args: string[]) =>
      (
        await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args], {
          nothrow: true,
        })
      ).stdout
    expect(await curl(`http://${api}/cluster`)).not.toBe('200')
    expect(await curl('--cacert', c.tls.ca, `https://${api}/cluster`)).toBe('200')
    // a patch that changes nothing (the value it has): what counts is whether Patroni lets it through
    const now = JSON.parse((await run('curl', ['-s', '--cacert', c.tls.ca, `https://${api}/config`])).stdout)
    const patch = [
      '-X',
      'PATCH',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ loop_wait: now.loop_wait }),
    ]
    expect(await curl('--cacert', c.tls.ca, ...patch, `https://${api}/config`)).toBe('403')
    expect(
      await curl('--cacert', c.tls.ca, '--cert', c.tls.cert, '--key', c.tls.key, ...patch, `https://${api}/config`),
    ).toBe('200')
  })

  it('monitor.ts from the workstation, with the inventory the twin wrote: both sites up, the primary answering as primary', async () => {
    const r = await zx(['runbooks/monitor.ts', '--stack', 'prod', '--inventory', invFile, '--once'], {
      PGPASSFILE: twin.layout.passFile,
      LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
    })
    expect(r.stdout).toMatch(/^labdojo_site_up 1$/m)
    expect(r.stdout).toMatch(/^labdojo_node_up\{node="primary",role="primary"\} 1$/m)
    expect(r.stdout).toMatch(/^labdojo_node_up\{node="hot",role="hot"\} 1$/m)
    expect(r.stdout).toMatch(/^labdojo_endpoint_target\{node="primary"\} 1$/m)
  })

  it("the exporter inside the hot region, as the monitoring user from its Secret: it logs in and reads the standby's WAL (pg_monitor, defect N13)", async () => {
    const hot = twin.layout.sites.find((s) => s.site === 'hot')!
    const monitor = secretOf('hot', 'labdojo-monitor')
    const r = await zx(
      ['runbooks/monitor.ts', '--stack', 'prod', '--inventory', invFile, '--once'],
      {
        PGUSER: 'labdojo-monitor',
        PGPASSWORD: monitor.password,
        PGSSLMODE: 'require',
        LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
      },
      hot.ns,
    )
    expect(r.stdout).toMatch(/^labdojo_node_up\{node="primary",role="primary"\} 1$/m)
    expect(r.stdout).toMatch(/^labdojo_node_up\{node="hot",role="hot"\} 1$/m)
    const [w] = await query<{ n: number }>(
      as('hot', { user: 'labdojo-monitor' }),
      "SELECT count(*)::int AS n FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'",
    )
    expect(w!.n).toBeGreaterThan(0)
  })

  it("archives and backs up as PGO does: the WAL reaches the primary's vault and, by the program's S3 replication, the replica vault; backup.ts asks PGO (annotation, job, status); catalog.ts reads both vaults; verify.ts proves the replicated copy at the hot standby's exact LSN", async () => {
    await query(
      as('primary', { user: 'labdojo' }),
      'CREATE TABLE labdojo.lessons AS SELECT g AS id, md5(g::text) AS title FROM generate_series(1, 5000) g',
    )
    const env = { ...twinEnv(twin), LABDOJO_AUDIT_LOG: join(dir, 'audit.log') }
    const b = await zx(['runbooks/backup.ts', '--stack', 'prod', '--inventory', invFile, '--type', 'incr'], env)
    expect(b.code, b.stdout + b.stderr).toBe(0)
    expect(b.stdout + b.stderr).toMatch(/taken by PGO into repo1/)
    const primary = twin.layout.sites.find((s) => s.site === 'primary')!
    const stored = JSON.parse(readFileSync(join(primary.dir, 'k8s', 'postgrescluster.json'), 'utf8'))
    expect(stored.status.pgbackrest.manualBackup).toMatchObject({ finished: true, succeeded: 1 })
    const c = await zx(['runbooks/catalog.ts', '--stack', 'prod', '--inventory', invFile, '--json'], env)
    expect(c.code, c.stderr).toBe(0)
    const catalog = JSON.parse(c.stdout) as { repos: { repo: number; backups: { type: string }[] }[] }
    // PGO's replica-create full, then our incr, in the primary's vault; the same in its replicated copy
    expect(catalog.repos.find((r) => r.repo === 1)!.backups.map((x) => x.type)).toEqual(['full', 'incr'])
    expect(catalog.repos.find((r) => r.repo === 2)!.backups.length).toBeGreaterThanOrEqual(1)
    const v = await zx(
      ['runbooks/verify.ts', '--stack', 'prod', '--inventory', invFile, '--repo', '2', '--reference', 'hot'],
      env,
    )
    expect(v.code, v.stdout + v.stderr).toBe(0)
    const tables = Number(/PROVEN\s+prod repo2: .* equal to hot there \((\d+) tables/.exec(v.stdout)?.[1])
    expect(tables).toBeGreaterThanOrEqual(1)
  })

  it('the hot standby replays from the replicated archive when streaming breaks for longer than the primary keeps its WAL, and streams again when the link returns (defect N4)', async () => {
    const hot = twin.layout.sites.find((s) => s.site === 'hot')!
    const primary = twin.layout.sites.find((s) => s.site === 'primary')!
    const cut = `table ip labdojo_cut {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    ip daddr ${twin.layout.subnet}.${primary.index}.0/24 tcp dport 5432 reject with tcp reset\n  }\n}\n`
    const receiving = async () =>
      (await query<{ s: string | null }>(as('hot'), 'SELECT (SELECT status FROM pg_stat_wal_receiver) AS s'))[0]!.s
    await run('ip', ['netns', 'exec', hot.ns, 'nft', '-f', '-'], { input: cut })
    try {
      // (the application user's tables live in its own schema, labdojo: PGO's AutoCreateUserSchema)
      // the live stream ends now (its packets would only stall until wal_receiver_timeout)
      await run('ip', ['netns', 'exec', hot.ns, 'ss', '-K', 'dst', `${twin.layout.subnet}.${primary.index}.0/24`])
      await until(async () => (await receiving()) !== 'streaming')
      // pg_walfile_name() is refused during recovery: the segment from the LSN (16 MiB segments)
      const [at] = await query<{ lsn: string }>(as('hot'), 'SELECT pg_last_wal_replay_lsn()::text AS lsn')
      const [hi, lo] = at!.lsn.split('/').map((h) => parseInt(h, 16))
      const stoppedIn =
        `${hi!.toString(16).padStart(8, '0')}${(lo! >>> 24).toString(16).padStart(8, '0')}`.toUpperCase()
      await query(
        as('primary', { user: 'labdojo' }),
        "CREATE TABLE labdojo.n4 AS SELECT g, md5(g::text) || repeat('x', 400) AS v FROM generate_series(1, 300000) g",
      )
      for (let i = 0; i < 2; i++)
        await query(as('primary'), 'SELECT pg_switch_wal()').then(() => query(as('primary'), 'CHECKPOINT'))
      // the primary no longer holds the segment the hot standby stopped in: streaming alone could not catch up
      const [oldest] = await query<{ seg: string }>(
        as('primary'),
        "SELECT min(name) AS seg FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'",
      )
      expect(oldest!.seg.slice(8) > stoppedIn).toBe(true)
      const rows = async () =>
        (
          await query<{ n: number }>(as('hot'), 'SELECT count(*)::int AS n FROM labdojo.n4').catch(() => [{ n: -1 }])
        )[0]!.n
      await until(async () => (await rows()) === 300000)
      expect(await receiving()).not.toBe('streaming')
    } finally {
      await run('ip', ['netns', 'exec', hot.ns, 'nft', 'delete', 'table', 'ip', 'labdojo_cut'], { nothrow: true })
    }
    // the standby retries the stream between archive fetches: it streams again, and a new row reaches it
    await until(async () => (await receiving()) === 'streaming')
    await query(as('primary', { user: 'labdojo' }), "INSERT INTO labdojo.n4 VALUES (0, 'after the link came back')")
    const marker = async () =>
      (await query<{ n: number }>(as('hot'), 'SELECT count(*)::int AS n FROM labdojo.n4 WHERE g = 0'))[0]!.n
    await until(async () => (await marker()) === 1)
    expect(await receiving()).toBe('streaming')
  })

  it("fails over inside the primary cluster when its leader dies (Patroni); the Service follows and the runbooks' probe sees a primary", async () => {
    const site = twin.layout.sites.find((s) => s.site === 'primary')!
    const before = leaderOf(await members(site))!
    const inst = site.instances.find((i) => i.name === before.name)!
    const patroni = readPid(join(inst.dir, 'patroni.pid'))!
    const postmaster = Number(readFileSync(join(inst.data, 'postmaster.pid'), 'utf8').split('\n')[0])
    process.kill(patroni, 'SIGKILL')
    process.kill(postmaster, 'SIGKILL')
    // the kernel ends it a moment later (an immediate check raced it under load); dead or a zombie
    const dead = () => {
      try {
        return !pidAlive(patroni) || / Z /.test(readFileSync(`/proc/${patroni}/stat`, 'utf8').replace(/^.*\)/, ')'))
      } catch {
        return true
      }
    }
    await until(async () => dead(), 100)
    expect(dead()).toBe(true)
    let after = leaderOf(await members(site))
    for (let i = 0; i < 240 && (!after || after.name === before.name); i++) {
      await new Promise((r) => setTimeout(r, 500))
      after = leaderOf(await members(site))
    }
    expect(after?.name).not.toBe(before.name)
    expect(after?.role).toBe('leader')
    let answer = await probe('primary', as('primary'), 5000)
    for (let i = 0; i < 20 && !(answer.reachable && answer.inRecovery === false); i++) {
      await new Promise((r) => setTimeout(r, 500))
      answer = await probe('primary', as('primary'), 5000)
    }
    expect(answer).toMatchObject({ reachable: true, inRecovery: false })
  })

  it('the exporter inside the primary region publishes PrimaryUp 1 (signed PutMetricData); the alarm evaluates OK and the Route53 stand-in answers with the primary', async () => {
    const site = twin.layout.sites.find((s) => s.site === 'primary')!
    const monitor = secretOf('primary', 'labdojo-monitor')
    const aws = twinEnv(twin)
    const r = await zx(
      ['runbooks/monitor.ts', '--stack', 'prod', '--inventory', invFile, '--once'],
      {
        PGUSER: 'labdojo-monitor',
        PGPASSWORD: monitor.password,
        PGSSLMODE: 'require',
        LABDOJO_SITE: 'primary',
        LABDOJO_CLOUDWATCH_NAMESPACE: 'LabDojo/DR',
        LABDOJO_CLOUDWATCH_REGION: 'us-west-2',
        LABDOJO_CLOUDWATCH_ENDPOINT: aws.LABDOJO_CLOUDWATCH_ENDPOINT!,
        AWS_ACCESS_KEY_ID: aws.AWS_ACCESS_KEY_ID!,
        AWS_SECRET_ACCESS_KEY: aws.AWS_SECRET_ACCESS_KEY!,
        LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
      },
      site.ns,
    )
    expect(r.stderr).not.toMatch(/CloudWatch .*failed/)
    expect(r.stdout).toMatch(/^labdojo_site_up 1$/m)
    const alarm = inv.endpoint.observer!.alarmName
    expect(await alarmState('us-west-2', alarm, { ...process.env, ...aws })).toBe('OK')
    // a request signed with another key is refused
    await expect(
      alarmState('us-west-2', alarm, { ...process.env, ...aws, AWS_SECRET_ACCESS_KEY: 'not-the-twin-key' }),
    ).rejects.toThrow(/403/)
    expect(await route53Answer()).toBe('db-primary.use1.labdojo.internal')
  })

  it("the exporter Deployment, running in the primary region with no rewritten configuration: it reads both vaults at AWS's own names (virtual-hosted, 443, the pod's trust store) and PGO's status through the in-cluster API as its service account, which the program's RBAC lets get the cluster and nothing more", async () => {
    const site = twin.layout.sites.find((s) => s.site === 'primary')!
    const scrape = async () =>
      fetch(`http://${site.hostIp}:9187/metrics`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.text(),
        () => '',
      )
    let m = ''
    await until(async () => /^labdojo_catalog_age_seconds [0-9.]+$/m.test((m = await scrape())))
    expect(m).toMatch(/^labdojo_repo_reachable\{repo="1"\} 1$/m)
    expect(m).toMatch(/^labdojo_repo_reachable\{repo="2"\} 1$/m)
    expect(m).toMatch(/^labdojo_backup_last_success_timestamp_seconds\{repo="2",type="full"\} \d+$/m)
    // PGO's backup jobs came from the API: no failed read of the cluster in the pod's log
    const log = readFileSync(join(site.dir, 'exporter', 'exporter.log'), 'utf8')
    expect(log).not.toMatch(/backup runs:/)
    // the pod's token: get is bound to it, patch is not; no token, no answer
    const sa = join(site.dir, 'exporter', 'serviceaccount')
    const api = (method: string, token?: string) =>
      run(
        'curl',
        [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--cacert',
          join(sa, 'ca.crt'),
          '-X',
          method,
          '-H',
          'content-type: application/merge-patch+json',
          ...(token ? ['-H', `@${token}`] : []),
          ...(method === 'PATCH' ? ['-d', '{"spec":{"shutdown":true}}'] : []),
          `https://${site.apiIp}/apis/postgres-operator.crunchydata.com/v1beta1/namespaces/labdojo/postgresclusters/labdojo`,
        ],
        { nothrow: true },
      )
    const header = join(dir, 'sa-header')
    writeFileSync(header, `Authorization: Bearer ${readFileSync(join(sa, 'token'), 'utf8')}\n`, { mode: 0o600 })
    expect((await api('GET', header)).stdout).toBe('200')
    expect((await api('PATCH', header)).stdout).toBe('403')
    expect((await api('GET')).stdout).toBe('401')
  })

  it('failover.ts --watch with the primary region cut off: holds while the alarm (fed by the exporters inside the regions) still sees the primary, promotes once it says down; Route53 moves, PGO promotes the hot cluster, and the application logs in through the endpoint with the credentials it had (defect N2)', async () => {
    const primary = twin.layout.sites.find((s) => s.site === 'primary')!
    await setRegionLink(run, twin.layout, primary, false)
    const r = await zx(
      ['runbooks/failover.ts', '--stack', 'prod', '--inventory', invFile, '--watch', '--max-seconds', '900', '--yes'],
      {
        ...twinEnv(twin),
        LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
      },
    )
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const out = r.stdout + r.stderr
    // CloudWatch needs 3 periods of 60 s without PrimaryUp 1 (the program's alarm): until then the watcher holds
    const held = out.indexOf('the distributed observer still sees it answer as a primary')
    const agreed = out.indexOf('the distributed observer agrees it is down')
    expect(held).toBeGreaterThanOrEqual(0)
    expect(agreed).toBeGreaterThan(held)
    expect(out).toMatch(/failover of stack prod primary -> hot done/)
    expect(await route53Answer()).toBe(node('hot').host)
    // the application's Secret from the primary cluster: what every client holds
    const app = secretOf('primary', 'labdojo')
    const clientFile = join(dir, 'client-pgpass')
    writeFileSync(clientFile, `*:*:*:labdojo:${app.password}\n`, { mode: 0o600 })
    const endpoint = { ...endpointConn(inv), user: 'labdojo', passfile: clientFile }
    expect(await probe('app', endpoint, 5000)).toMatchObject({ reachable: true, inRecovery: false })
    const [on] = await query<{ addr: string }>(endpoint, 'SELECT host(inet_server_addr()) AS addr')
    expect(twin.layout.sites.find((s) => s.site === 'hot')!.instances.map((i) => i.ip)).toContain(on!.addr)
    // PGO wrote the hot cluster's own Secret into PostgreSQL once it was writable: the chain's one password
    expect(secretOf('hot', 'labdojo').password).toBe(app.password)
    // promoted without the primary's replicated repo (N4): it archives its own timeline into its own repo only
    const hot = twin.layout.sites.find((s) => s.site === 'hot')!
    const spec = JSON.parse(readFileSync(join(hot.dir, 'k8s', 'postgrescluster.json'), 'utf8')).spec
    expect(spec.backups.pgbackrest.repos.map((x: { name: string }) => x.name)).toEqual(['repo1'])
    expect(Object.keys(spec.backups.pgbackrest.global).filter((k) => k.startsWith('repo2-'))).toEqual([])
    await archiveNow(as('hot'))
  })
})
