/**
 * A PGO-like server, for real: PostgreSQL 15 with TLS on and PGO's only password rule
 * (`hostssl all all all md5`, PGO 5.7 internal/postgres/hba.go), so a login without TLS is
 * refused. The runbooks reach it only over TLS (sslmode require or verify-full against the
 * cluster's CA), and a server that answers but refuses the probe (no TLS, a wrong password) is
 * alive: no failure is counted and no failover decided, where it used to look like a dead
 * primary. Once the server is really gone, the same probes count failures (the control). Port
 * 27600, no site.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { Postgres, probe, query, type Conn } from '../../runbooks/lib/adapters/postgres.ts'
import { cloudSource } from '../../runbooks/lib/ops/monitor/cloud-source.ts'
import type { Inventory } from '../../core/inventory.ts'
import type { DrPolicy } from '../../core/policy.ts'
import { cloudInventory } from '../helpers/cloud-inventory.ts'
import { siteIds } from '../../runbooks/lib/adapters/process.ts'
import { detectFailures, probePair, snap } from '../../runbooks/lib/ops/failover/detect.ts'
import { decideFailover, type FailoverFacts } from '../../core/failover.ts'
import { portsOf } from '../helpers/ports.ts'

const PORT = portsOf('probe-tls')
const pg = new Postgres(run)
let base = ''
let data = ''
let server: Conn
const detection = { probeInterval: 0.05, probeTimeout: 2, failureThreshold: 3 }

const sh = (script: string) => run('bash', ['-c', script], { cwd: base })

beforeAll(async () => {
  base = mkdtempSync('/var/tmp/labdojo-test-probe-tls-')
  chmodSync(base, 0o755)
  const { uid, gid } = siteIds()
  chownSync(base, uid, gid)
  data = join(base, 'data')
  // a cluster CA and a server certificate for 127.0.0.1 signed by it (as PGO's pgo-root-cacert signs its clusters')
  await sh(`set -e
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=labdojo-test-ca -days 2 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.crt -subj /CN=another-ca -days 2 2>/dev/null
    chmod 600 server.key && chown ${uid}:${gid} server.key server.crt`)
  await pg.initdb(data)
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhostssl all all all md5\n')
  const tls = `-c ssl=on -c ssl_cert_file=${base}/server.crt -c ssl_key_file=${base}/server.key`
  await pg.start(
    data,
    join(base, 'log'),
    `-p ${PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${base} ${tls}`,
  )
  await pg.setPassword(base, PORT, 'probe-tls-test')
  const passfile = join(base, 'pgpass')
  writeFileSync(passfile, `127.0.0.1:${PORT}:*:postgres:probe-tls-test\n127.0.0.1:${PORT}:*:intruder:guess\n`, {
    mode: 0o600,
  })
  server = { host: '127.0.0.1', port: PORT, database: 'postgres', user: 'postgres', passfile }
  await query({ ...server, sslmode: 'require' }, 'CREATE DATABASE labdojo')
})

afterAll(async () => {
  if (data) await pg.stop(data, 'immediate').catch(() => {})
  if (base) rmSync(base, { recursive: true, force: true })
})

const facts = (primary: ReturnType<typeof snap>): FailoverFacts => ({
  primary,
  candidate: { name: 'hot', health: 'up', inRecovery: true, timeline: 1, systemId: undefined },
  candidateSite: 'hot',
  candidateFailover: 'automatic',
  detection: { consecutiveFailures: 3, threshold: 3, firstFailureAt: Date.now(), lastSeenAt: null },
  lossWindowSeconds: 0,
  lossBasis: 'test',
  tierRpoSeconds: 60,
  flags: { acceptDataLoss: false, switchover: false, automatic: true },
})

describe("probing a server that takes password logins over TLS only (PGO's hba)", () => {
  it('without TLS the login is refused by a live server: refused, not down', async () => {
    const s = await probe('primary', server, 3000)
    expect(s.reachable).toBe(false)
    expect(s.error).toMatch(/no pg_hba.conf entry .* no encryption/)
    expect(s.refused).toBe(true)
    expect(snap(s).health).toBe('refused')
  })

  it('over TLS (require, and verify-full against the cluster CA) the probe reads it', async () => {
    for (const tls of [
      { sslmode: 'require' as const },
      { sslmode: 'verify-full' as const, sslRootCert: join(base, 'ca.crt') },
    ]) {
      const s = await probe('primary', { ...server, ...tls }, 3000)
      expect(s, JSON.stringify(tls)).toMatchObject({ reachable: true, inRecovery: false })
    }
  })

  it('verify-full refuses a certificate its CA did not sign (a stranger, not a refusal)', async () => {
    const s = await probe(
      'primary',
      { ...server, sslmode: 'verify-full', sslRootCert: join(base, 'other-ca.crt') },
      3000,
    )
    expect(s.reachable).toBe(false)
    expect(s.refused).toBeFalsy()
  })

  it('a wrong password, or none at all (PGO gives postgres none), over TLS is a refusal too', async () => {
    const wrong = await probe('primary', { ...server, sslmode: 'require', user: 'intruder' }, 3000)
    expect(wrong, wrong.error).toMatchObject({ reachable: false, refused: true })
    expect(wrong.error).toMatch(/password authentication failed for user "intruder"/)
    const none = await probe('primary', { ...server, sslmode: 'require', user: 'nobody' }, 3000)
    expect(none, none.error).toMatchObject({ reachable: false, refused: true })
  })

  it('the watcher counts no failure while the primary refuses it, and the decision refuses to promote', async () => {
    const plainTcp = { ...server, name: 'primary' }
    const d = await detectFailures(detection, () => probePair(plainTcp, plainTcp, 2000), {
      watch: true,
      until: Date.now() + 1500,
    })
    expect(d.consecutiveFailures).toBe(0)
    expect(d.lastSeenAt).not.toBeNull()
    const decision = decideFailover(facts(snap(await probe('primary', plainTcp, 3000))))
    expect(decision.action).toBe('refuse')
    expect(decision.reason).toMatch(/answers but refuses the probe .* alive/)
  })

  it("the exporter reads a refusing primary as alive (its PrimaryUp does not move DNS), and reads it over the inventory's TLS", async () => {
    process.env.PGPASSFILE = server.passfile
    const inventory = () =>
      cloudInventory({
        nodes: [{ name: 'primary', site: 'primary', role: 'primary', port: PORT }],
        repos: [],
        endpointPort: PORT,
      }).inventory as unknown as Inventory
    const withTls = inventory()
    withTls.nodes[0]!.sslmode = 'require'
    const read = async (inv: Inventory) => (await cloudSource(inv, {} as DrPolicy, run, {}).status()).nodes[0]!.live
    expect(await read(inventory())).toBe('refused')
    expect(await read(withTls)).toBe('primary')
  })

  it('control: once the server is gone, the same probes count failures and the decision promotes', async () => {
    await pg.stop(data, 'immediate')
    const plainTcp = { ...server, name: 'primary' }
    const d = await detectFailures(detection, () => probePair(plainTcp, plainTcp, 2000), {
      watch: true,
      until: Date.now() + 30_000,
    })
    expect(d.consecutiveFailures).toBe(3)
    const decision = decideFailover(facts(snap(await probe('primary', plainTcp, 3000))))
    expect(decision.action).toBe('promote')
  })
})
