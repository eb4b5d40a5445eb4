/**
 * The export CronJob of a cloud stack, end to end, with only the cloud boundary simulated: a
 * real PostgreSQL primary stands in for PGO's cluster (reached through the PG* environment, as
 * the job's secret mounts give it), s3rver over TLS for the S3 bucket, and a local STS for the
 * pod's web identity (IRSA).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:http'
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, chmodSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { testSite, runbook, type TestSite } from '../helpers/site.ts'
import { cloudInventory } from '../helpers/cloud-inventory.ts'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { query, scramVerifier } from '../../runbooks/lib/adapters/postgres.ts'
import { ObjectStore } from '../../runbooks/lib/adapters/object-store.ts'
import { Sealer } from '../../runbooks/lib/ops/exports/sealed.ts'
import { verifyOffsiteExport } from '../../runbooks/lib/ops/exports/offsite.ts'
import { portsOf } from '../helpers/ports.ts'

const BASE = portsOf('cloud-export')
const PASS = 'export-seal-pass-for-the-test-0123456789'
const DB_PASSWORD = 'pguser-password-not-for-logs'
const TOKEN = 'web-identity-token-not-for-logs'
const SESSION = 'sts-session-token-not-for-logs'
let t: TestSite
let sts: Server
const stsBodies: string[] = []
let dir = ''
let env: Record<string, string> = {}
/** the offsite store checks every signature: STS hands out the site's own key, as IAM would a role's */
let key = { id: '', secret: '' }

beforeAll(async () => {
  t = testSite(BASE)
  expect((await runbook('local', ['up', '--scale', '0.002'], t.env)).code).toBe(0)
  const l = layout(t.stateDir, BASE, '/var/lib/postgresql')
  const secrets = readFileSync(l.secrets.pgbackrest, 'utf8')
  key = { id: /^repo2-s3-key=(.+)$/m.exec(secrets)![1]!, secret: /^repo2-s3-key-secret=(.+)$/m.exec(secrets)![1]! }
  // PGO's application user, whose password its secret mounts as PGPASSWORD (the site asks for it)
  await query(
    { host: '127.0.0.1', port: BASE + 1, database: 'postgres' },
    `CREATE ROLE labdojo LOGIN SUPERUSER PASSWORD '${scramVerifier(DB_PASSWORD)}'`,
  )
  sts = createServer((req, res) => {
    let b = ''
    req.on('data', (d) => (b += d))
    req.on('end', () => {
      stsBodies.push(b)
      res.end(
        `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>${key.id}</AccessKeyId><SecretAccessKey>${key.secret}</SecretAccessKey><SessionToken>${SESSION}</SessionToken></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
      )
    })
  }).listen(BASE + 51, '127.0.0.1')
  dir = mkdtempSync('/tmp/labdojo-cloud-export-')
  chmodSync(dir, 0o755)
  writeFileSync(join(dir, 'token'), TOKEN)
  const repo = (index: number, region: string) => ({
    index,
    type: 's3',
    path: '/pgbackrest/labdojo/repo1',
    bucket: 'labdojo-backups',
    region,
    encrypted: true,
    site: index === 1 ? 'primary' : 'hot',
  })
  writeFileSync(
    join(dir, 'prod.json'),
    JSON.stringify(
      cloudInventory({
        nodes: [{ name: 'primary', site: 'primary', role: 'primary', port: BASE + 1 }],
        repos: [repo(1, 'us-east-1'), repo(2, 'us-west-2')],
        endpointPort: BASE,
      }),
    ),
  )
  env = {
    ...t.env,
    // what the CronJob's secret mounts and service account give the pod
    PGHOST: '127.0.0.1',
    PGPORT: String(BASE + 1),
    PGUSER: 'labdojo',
    PGPASSWORD: DB_PASSWORD,
    PGDATABASE: 'labdojo',
    LABDOJO_EXPORT_CIPHER_PASS: PASS,
    LABDOJO_EXPORT_DIR: join(dir, 'export'),
    AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/labdojo-backup-writer',
    AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
    // the cloud boundary, simulated
    LABDOJO_STS_ENDPOINT: `http://127.0.0.1:${BASE + 51}/`,
    LABDOJO_S3_ENDPOINT: `https://127.0.0.1:${l.ports.s3}`,
    LABDOJO_S3_CA_FILE: l.s3.cert,
  }
})
afterAll(async () => {
  sts?.close()
  await t?.cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const store = () =>
  new ObjectStore({
    endpoint: env.LABDOJO_S3_ENDPOINT,
    bucket: 'labdojo-backups',
    region: 'us-east-1',
    accessKeyId: key.id,
    secretAccessKey: key.secret,
    ca: readFileSync(env.LABDOJO_S3_CA_FILE!, 'utf8'),
  })

describe('logical exports on a cloud stack (the export CronJob)', () => {
  it('dumps through the PG* environment, seals into the bucket with web-identity credentials, and reads it back', async () => {
    const r = await runbook(
      'backup',
      ['--type', 'logical', '--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--repo', '1', '--json'],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    const rec = JSON.parse(r.stdout)
    expect(rec).toMatchObject({
      type: 'logical',
      repo: 1,
      source: `127.0.0.1:${BASE + 1}`,
      location: `s3://labdojo-backups/exports/${rec.label}/`,
    })
    expect(rec.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
    // the pod's token went to STS in the request body (never argv), and STS's credentials signed the upload
    expect(stsBodies.at(-1)).toContain(`WebIdentityToken=${TOKEN}`)
    expect(stsBodies.at(-1)).toContain('Action=AssumeRoleWithWebIdentity')
    // the scratch copy is gone; the bucket holds an export that opens with the pass and matches its sums
    expect(readdirSync(join(dir, 'export', 'labdojo-exports'))).toEqual([])
    const s = store()
    try {
      expect(await verifyOffsiteExport({ store: s, sealer: new Sealer(PASS) }, rec.label)).toMatchObject({
        ok: true,
        bad: [],
      })
      expect((await verifyOffsiteExport({ store: s, sealer: new Sealer('another-pass') }, rec.label)).ok).toBe(false)
    } finally {
      s.close()
    }
    for (const secret of [PASS, DB_PASSWORD, TOKEN, SESSION]) {
      expect(r.stdout + r.stderr).not.toContain(secret)
      expect(readFileSync(t.env.LABDOJO_AUDIT_LOG!, 'utf8')).not.toContain(secret)
    }
  })

  it("by default writes to every repo the policy's storage names (primary and secondary)", async () => {
    const r = await runbook(
      'backup',
      ['--type', 'logical', '--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--json'],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).map((x: any) => x.repo)).toEqual([1, 2])
  })

  it.each([
    ['no seal pass', { LABDOJO_EXPORT_CIPHER_PASS: '' }, /LABDOJO_EXPORT_CIPHER_PASS.*is not set/],
    ['no database environment', { PGHOST: '' }, /PGHOST.*is not set.*labdojo-pguser-labdojo/s],
    ['no AWS credentials', { AWS_ROLE_ARN: '', AWS_WEB_IDENTITY_TOKEN_FILE: '' }, /AWS credentials.*not set/s],
  ])('refuses with exit 2 and dumps nothing: %s', async (_, over, msg) => {
    const before = readdirSync(join(dir, 'export', 'labdojo-exports'))
    const r = await runbook(
      'backup',
      ['--type', 'logical', '--stack', 'prod', '--inventory', join(dir, 'prod.json'), '--repo', '1'],
      { ...env, ...over },
    )
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(msg)
    expect(readdirSync(join(dir, 'export', 'labdojo-exports'))).toEqual(before)
  })

  it("physical backups on a cloud stack are asked of PGO: without the primary's kube context, refused before anything (exit 2)", async () => {
    // test/integration/pgo-backup.test.ts asks PGO for real (through a kubectl stand-in)
    const r = await runbook('backup', ['--type', 'full', '--stack', 'prod', '--inventory', join(dir, 'prod.json')], env)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/names no kube context for the primary/)
  })
})
