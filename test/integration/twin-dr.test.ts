/**
 * The twin of both stacks (`twin.ts up --stack all`): dr rendered with prod's own outputs (its
 * StackReference), its warm cluster on "GKE" in europe-west1 a repo-fed PGO standby whose repo is
 * a GCS vault that Storage Transfer fills from prod's S3 replica vault, as the program declares:
 * GCS's JSON API as pgBackRest uses it, the buckets' IAM members, Workload Identity through a
 * metadata server (the pods' pgBackRest has no key), the operator's service-account key for the
 * workstation. Addresses 10.181.0.0/16 (base port 28100).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { generateKeyPairSync } from 'node:crypto'
import { join } from 'node:path'
import { run, type Runner } from '../../runbooks/lib/adapters/exec.ts'
import { clusterOf, promoteStandbyCluster } from '../../runbooks/lib/adapters/kube.ts'
import { query, type Conn } from '../../runbooks/lib/adapters/postgres.ts'
import { twinEnv, type Twin } from '../../runbooks/lib/sites/twin/twin.ts'
import { transferNow } from '../../runbooks/lib/sites/twin/gcp.ts'
import { members, readStatus } from '../../runbooks/lib/sites/twin/pgo.ts'
import { backrest } from '../../runbooks/lib/sites/twin/backrest.ts'
import { WARM_REPO_PATH } from '../../infra/sites/dr.ts'
import { REPO_PATH } from '../../infra/sites/prod.ts'
import { nodeConn, parseInventory, type Inventory } from '../../core/inventory.ts'
import { archiveNow, twinDown, twinUp, until } from '../helpers/twin.ts'
import { portsOf } from '../helpers/ports.ts'
import { runbook } from '../helpers/site.ts'

const BASE = portsOf('twin-dr')
let dir = ''
let twin: Twin
let prod: Inventory
let dr: Inventory
let drFile = ''

beforeAll(async () => {
  ;({ dir, twin, inv: prod } = await twinUp('labdojo-test-twin-dr-', BASE, 'all'))
  drFile = join(dir, 'twin-dr.json')
  dr = parseInventory(JSON.parse(readFileSync(drFile, 'utf8')).inventory, drFile)
})

afterAll(() => twinDown(dir, BASE))

const site = (name: string) => twin.layout.sites.find((s) => s.site === name)!
const as = (inv: Inventory, name: string, over: Partial<Conn> = {}): Conn => ({
  ...nodeConn(inv.nodes.find((n) => n.site === name)!),
  passfile: twin.layout.passFile,
  ...over,
})
const env = () => ({ ...twinEnv(twin), LABDOJO_AUDIT_LOG: join(dir, 'audit.log') })

/** curl inside a namespace (a pod's view), status code and body */
async function curlIn(ns: string, args: string[]): Promise<{ code: string; body: string }> {
  const r = await run('ip', ['netns', 'exec', ns, 'curl', '-s', '-w', '\n%{http_code}', ...args], { nothrow: true })
  const lines = r.stdout.split('\n')
  return { code: lines.pop()!, body: lines.join('\n') }
}

describe('the twin of prod and dr: the warm site on GCS, fed by Storage Transfer', () => {
  it('refuses to run dr alone (it reads prod): exit 2, nothing started', async () => {
    const r = await runbook('twin', ['up', '--stack', 'dr', '--base-port', String(BASE + 50)], {
      LABDOJO_TWIN_DIR: join(dir, 'dr-alone'),
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--stack.*dr cannot run alone.*--stack all/s)
  })

  it("runs the warm cluster as a repo-fed standby in europe-west1, restored from the GCS vault with a Workload Identity token (its pgBackRest has no key), reached with prod's credentials", async () => {
    const m = await members(site('warm'))
    expect(m?.map((x) => [x.role, x.state])).toEqual([['standby_leader', 'running']])
    const conf = readFileSync(join(site('warm').instances[0]!.dir, 'pgbackrest', 'pgbackrest.conf'), 'utf8')
    expect(conf).toMatch(/^repo1-type=gcs$/m)
    expect(conf).toMatch(/^repo1-gcs-key-type=auto$/m)
    expect(conf).not.toMatch(/^repo1-gcs-key=/m)
    // the application's user and password are prod's (one secret for the chain)
    const [r] = await query<{ ro: boolean }>(
      as(dr, 'warm', { user: 'labdojo', database: 'labdojo' }),
      'SELECT pg_is_in_recovery() AS ro',
    )
    expect(r!.ro).toBe(true)
  })

  it("Workload Identity as the program binds it: the warm pods act as its pgBackRest account, which may use the warm vault and not the cold one (the buckets' IAM members)", async () => {
    const token = await curlIn(site('warm').ns, [
      '-H',
      'Metadata-Flavor: Google',
      'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token',
    ])
    expect(token.code).toBe('200')
    const bearer = (JSON.parse(token.body) as { access_token: string }).access_token
    const ca = join(twin.layout.pki, 'ca.crt')
    const list = (bucket: string) =>
      curlIn(site('warm').ns, [
        '--cacert',
        ca,
        '-H',
        `@${header}`,
        `https://storage.googleapis.com/storage/v1/b/${bucket}/o?prefix=pgbackrest/`,
      ])
    const header = join(dir, 'gcs-header')
    writeFileSync(header, `Authorization: Bearer ${bearer}\n`, { mode: 0o600 })
    const [warmVault, coldVault] = dr.pgbackrest.repos.map((r) => r.bucket!)
    expect((await list(warmVault!)).code).toBe('200')
    const cold = await list(coldVault!)
    expect(cold.code).toBe('403')
    expect(cold.body).toMatch(/labdojo-warm-pgbackrest@.*does not have storage\.objects\.list/)
    // without the Metadata-Flavor header the metadata server answers nothing
    const bare = await curlIn(site('warm').ns, [
      'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token',
    ])
    expect(bare.code).toBe('403')
  })

  it("replays a commit made on prod's primary once Storage Transfer has copied its WAL into the warm vault (nothing streams from prod)", async () => {
    const primary = as(prod, 'primary')
    await query(primary, 'CREATE TABLE IF NOT EXISTS labdojo.dr_marker (note text)')
    await query(primary, `INSERT INTO labdojo.dr_marker VALUES ('from prod')`)
    await query(primary, 'SELECT pg_switch_wal()')
    const warm = as(dr, 'warm')
    await until(async () => {
      await transferNow(twin)
      const rows = await query<{ n: string }>(
        warm,
        `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'labdojo' AND tablename = 'dr_marker'`,
      ).catch(() => [{ n: '0' }])
      if (rows[0]!.n === '0') return false
      return (await query<{ note: string }>(warm, 'SELECT note FROM labdojo.dr_marker')).length === 1
    }, 2000)
    // the warm region has no route to prod's PostgreSQL it uses: it is a repo-fed standby
    const [w] = await query<{ n: string }>(warm, 'SELECT count(*) AS n FROM pg_stat_wal_receiver')
    expect(w!.n).toBe('0')
  })

  it("catalog.ts --stack dr reads both GCS vaults with the operator's service-account key (a signed JWT for a token); a key Google does not know is refused", async () => {
    const ok = await runbook('catalog', ['--stack', 'dr', '--inventory', drFile, '--json'], env())
    expect(ok.code, ok.stderr).toBe(0)
    const c = JSON.parse(ok.stdout) as { repos: { repo: number; reachable: boolean; backups: unknown[] }[] }
    expect(c.repos.map((r) => [r.repo, r.reachable, r.backups.length > 0])).toEqual([
      [1, true, true],
      [2, true, true],
    ])
    // the same account's name with a key of someone else's making
    const real = JSON.parse(readFileSync(twinEnv(twin).LABDOJO_GCS_KEY_FILE!, 'utf8')) as Record<string, string>
    const forged = join(dir, 'forged-key.json')
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    writeFileSync(
      forged,
      JSON.stringify({ ...real, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) }),
      { mode: 0o644 },
    )
    const bad = await runbook('catalog', ['--stack', 'dr', '--inventory', drFile, '--json'], {
      ...env(),
      LABDOJO_GCS_KEY_FILE: forged,
    })
    const b = JSON.parse(bad.stdout) as { repos: { reachable: boolean; error?: string }[] }
    expect(b.repos.map((r) => r.reachable)).toEqual([false, false])
    expect(bad.stdout).toMatch(/invalid_grant/)
    expect(bad.stdout + bad.stderr).not.toContain(real.private_key!.slice(40, 80))
  })

  it("promoted, the warm cluster archives into a path of its own that Storage Transfer never writes, and prod's copy stays prod's (issue 25, defect 3)", async () => {
    // PGO's promotion exactly as failover.ts asks it (kube.ts: GET, then standby off and replay-only repos out)
    const warmSite = site('warm')
    const kubeconfig = twinEnv(twin).KUBECONFIG!
    const withKube: Runner = (cmd, args, o = {}) => run(cmd, args, { ...o, env: { ...o.env, KUBECONFIG: kubeconfig } })
    await promoteStandbyCluster(withKube, clusterOf(dr.nodes[0]!))
    const warm = as(dr, 'warm')
    await until(async () => {
      const [r] = await query<{ ro: boolean }>(warm, 'SELECT pg_is_in_recovery() AS ro').catch(() => [{ ro: true }])
      return r!.ro === false
    })
    // PGO's stanza and replica-create backup in the warm's own repo, then a write archived there
    await until(async () => readStatus(warmSite).replicaCreateBackupComplete === true, 1000)
    await query(warm, `INSERT INTO labdojo.dr_marker VALUES ('after promotion')`)
    await archiveNow(warm)
    // the hourly transfers go on (nobody paused them): twice, for good measure
    await transferNow(twin)
    await transferNow(twin)
    const vault = join(twin.layout.stateDir, 'gcp', 'data', dr.pgbackrest.repos[0]!.bucket!)
    const own = join(vault, WARM_REPO_PATH.slice(1))
    const prodCopy = join(vault, REPO_PATH.slice(1))
    // the new timeline is in the warm's own repo, never in prod's copy
    expect(readdirSync(join(own, 'archive', 'db', '15-1'))).toContain('00000002.history')
    expect(readdirSync(join(prodCopy, 'archive', 'db', '15-1'))).not.toContain('00000002.history')
    // and the warm's own repo still says what the warm wrote: its backup, its timeline, checked by pgBackRest
    const inst = warmSite.instances[0]!
    const info = await backrest(run, warmSite, inst, ['info', '--repo=1', '--output=json'])
    const stanza = (
      JSON.parse(info.stdout) as { status: { code: number }; backup: unknown[]; archive: { max: string }[] }[]
    )[0]!
    expect(stanza.status.code).toBe(0)
    expect(stanza.backup.length).toBeGreaterThan(0)
    expect(stanza.archive[0]!.max.startsWith('00000002')).toBe(true)
    expect((await backrest(run, warmSite, inst, ['check'])).code).toBe(0)
  })
})
