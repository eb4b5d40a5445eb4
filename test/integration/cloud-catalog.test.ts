/**
 * catalog.ts on a cloud stack (issue 14, deliverable 4): the repos of a cloud-format inventory,
 * read straight with real pgBackRest from an S3 server on 127.0.0.1 (the local site's offsite
 * repo stands in for the prod vault), credentials from the environment only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testSite, runbook, json, type TestSite } from '../helpers/site.ts'
import { layout, BUCKET, STANZA } from '../../runbooks/lib/sites/local/layout.ts'
import { readSecrets } from '../../runbooks/lib/sites/local/secrets.ts'

const BASE = 24200
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
  inventory = join(dir, 'prod.json')
  const node = (name: string, site: string, role: string, port: number) => ({
    name,
    site,
    role,
    host: '127.0.0.1',
    port,
    database: 'labdojo',
    user: 'postgres',
    kubeContext: `ctx-${name}`,
    namespace: 'labdojo',
  })
  writeFileSync(
    inventory,
    JSON.stringify({
      inventory: {
        stack: 'prod',
        provider: 'aws',
        sites: [
          { name: 'primary', provider: 'aws', region: 'us-east-1', nodes: ['primary'] },
          { name: 'hot', provider: 'aws', region: 'us-west-2', nodes: ['hot'] },
        ],
        nodes: [node('primary', 'primary', 'primary', BASE + 1), node('hot', 'hot', 'standby', BASE + 2)],
        pgbackrest: {
          stanza: STANZA,
          repos: [
            {
              index: 2,
              type: 's3',
              path: '/pgbackrest',
              bucket: BUCKET,
              endpoint: `127.0.0.1:${l.ports.s3}`,
              region: 'us-east-1',
              encrypted: true,
              site: 'primary',
            },
          ],
        },
        buckets: [],
        keys: [],
        healthChecks: [],
        endpoint: {
          kind: 'route53',
          host: '127.0.0.1',
          port: BASE,
          database: 'labdojo',
          zoneId: 'ZTEST1',
          recordName: 'db.x.test',
        },
      },
    }),
  )
  const s = readSecrets(l)
  env = {
    ...t.env,
    AWS_ACCESS_KEY_ID: s['repo2-s3-key']!,
    AWS_SECRET_ACCESS_KEY: s['repo2-s3-key-secret']!,
    LABDOJO_REPO_CIPHER_PASS: s['repo2-cipher-pass']!,
    LABDOJO_S3_CA_FILE: l.s3.cert,
  }
})
afterAll(async () => {
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
