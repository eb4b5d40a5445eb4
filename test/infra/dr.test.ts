/** Stack dr under Pulumi's mock runtime: the warm and cold sites, fed from prod. */
import { beforeAll, describe, expect, it } from 'vitest'
import { runProgram, asPolicyResources, violations } from '../helpers/infra.ts'
import { parseInventory } from '../../core/inventory.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { WARM_REPO_PATH } from '../../infra/sites/dr.ts'
import { REPO_PATH } from '../../infra/sites/prod.ts'
import { promotionPatch, REPLAY_ONLY_ANNOTATION } from '../../core/pgo.ts'

const policy = loadPolicy(new URL('../../', import.meta.url).pathname, 'dr')
let r: Awaited<ReturnType<typeof runProgram>>
beforeAll(async () => {
  r = await runProgram('dr')
})

describe('dr stack', () => {
  it("exports its Storage Transfer agent's subject id, which prod's config must name (the bootstrap path)", async () => {
    const { valueOf } = await import('../../infra/mocks.ts')
    expect(await valueOf((r.program as any).transferAgentSubjectId)).toMatch(/\S/)
  })

  it('reads prod through a StackReference named by config', () => {
    expect(r.of('pulumi:pulumi:StackReference').map((s) => s.name)).toEqual(['labdojo/labdojo-dr/prod'])
  })

  it('stores backups in GCS with versioning and soft delete (no retention policy: GCS refuses it beside versioning), CMEK, lifecycle to ARCHIVE and no public access', () => {
    const buckets = r.of('gcp:storage/bucket:Bucket')
    expect(buckets.map((b) => b.inputs.location)).toEqual(['EUROPE-WEST1', 'EUROPE-NORTH1'])
    for (const b of buckets) {
      expect(b.inputs).toMatchObject({
        versioning: { enabled: true },
        publicAccessPrevention: 'enforced',
        uniformBucketLevelAccess: true,
      })
      expect(b.inputs.retentionPolicy).toBeUndefined()
      expect(b.inputs.softDeletePolicy).toEqual({ retentionDurationSeconds: 90 * 86400 })
      expect(b.inputs.encryption.defaultKmsKeyName).toMatch(/cryptoKeys\//)
      expect(b.inputs.lifecycleRules[0]).toMatchObject({
        action: { type: 'SetStorageClass', storageClass: 'ARCHIVE' },
        condition: { age: 90 },
      })
      expect(b.inputs.lifecycleRules[1].condition.daysSinceNoncurrentTime).toBe(policy.tiers[1].retention / 86400)
    }
  })

  it('rotates the Cloud KMS keys quarterly', () => {
    expect(r.of('gcp:kms/cryptoKey:CryptoKey').map((k) => k.inputs.rotationPeriod)).toEqual(['7776000s', '7776000s'])
  })

  it("syncs the warm vault hourly and the cold vault daily from prod's replica vault (the sites' RPOs)", () => {
    const jobs = Object.fromEntries(r.of('gcp:storage/transferJob:TransferJob').map((j) => [j.name, j.inputs]))
    expect(jobs['warm-sync']!.schedule.repeatInterval).toBe(`${policy.sites.warm.rpo}s`)
    expect(jobs['cold-sync']!.schedule.repeatInterval).toBe(`${policy.sites.cold.rpo}s`)
    expect(jobs['warm-sync']!.transferSpec.awsS3DataSource.bucketName).toBe('labdojo-backups-replica-abc123')
    expect(jobs['warm-sync']!.transferSpec.transferOptions.deleteObjectsUniqueInSink).toBe(false)
  })

  it("runs the warm site as a repo-fed standby at 75% of the primary's capacity", () => {
    const w = r.of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster')[0]!.inputs.spec
    expect(w.standby).toEqual({ enabled: true, repoName: 'repo2' })
    expect(w.instances[0].resources.requests).toEqual({ cpu: '3000m', memory: '12Gi' })
    expect(w.backups.pgbackrest.repos[0].gcs.bucket).toMatch(/warm/)
    expect(r.of('kubernetes:batch/v1:CronJob')).toEqual([]) // exports run at the primary only
  })

  it("gives the promoted warm cluster a repo path of its own, which Storage Transfer never writes: prod's copy is replayed, then dropped at promotion (issue 25, defect 3)", () => {
    const o = r.of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster')[0]!.inputs
    const g = o.spec.backups.pgbackrest.global
    expect([g['repo1-path'], g['repo2-path']]).toEqual([WARM_REPO_PATH, REPO_PATH])
    expect(o.spec.standby.repoName).toBe('repo2')
    expect(o.metadata.annotations[REPLAY_ONLY_ANNOTATION]).toBe('repo2')
    // what the promotion patch leaves: the warm's own repo only
    const after = promotionPatch(o) as any
    expect(after.spec.backups.pgbackrest.repos.map((x: any) => x.name)).toEqual(['repo1'])
    // every transfer into the warm vault copies prod's repo only, never the warm's own path
    for (const j of r.of('gcp:storage/transferJob:TransferJob')) {
      const prefixes: string[] = j.inputs.transferSpec.objectConditions.includePrefixes
      expect(prefixes).toEqual([`${REPO_PATH.slice(1)}/`])
      expect(prefixes.some((p) => `${WARM_REPO_PATH.slice(1)}/`.startsWith(p))).toBe(false)
    }
  })

  it("gives the warm cluster prod's users and passwords: once promoted, clients log in as before (defect N2)", () => {
    const secrets = r.of('kubernetes:core/v1:Secret').filter((s) => /-pguser-/.test(s.name))
    const password = (user: string) =>
      JSON.stringify(secrets.find((s) => s.inputs.metadata.name === `labdojo-pguser-${user}`)!.inputs.stringData)
    expect(password('labdojo')).toContain('mock-app-pass')
    expect(password('labdojo-dr')).toContain('mock-dr-pass')
    expect(password('labdojo-monitor')).toContain('mock-monitor-pass')
    expect(r.inventory.nodes.map((n) => n.user)).toEqual(r.inventory.nodes.map(() => 'labdojo-dr'))
  })

  it('declares no notification channel that no alert policy uses (alerting is Prometheus next to the database)', () => {
    expect(r.of('gcp:monitoring/notificationChannel:NotificationChannel')).toEqual([])
  })

  it('exports an inventory the runbooks accept, and passes the policy pack', async () => {
    const inv = parseInventory(r.inventory, 'dr')
    expect(inv.sites.map((s) => s.name)).toEqual(['warm', 'cold'])
    expect(await violations(asPolicyResources(r.recorded))).toEqual([])
  })
})

describe('the exported inventories load in the runbooks', () => {
  it("failover.ts --stack prod|dr --inventory FILE --dry-run prints the cloud plan from the plan's output", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
    const { runbook } = await import('../helpers/site.ts')
    const dir = mkdtempSync('/tmp/labdojo-inv-')
    writeFileSync(`${dir}/dr.json`, JSON.stringify({ inventory: r.inventory }))
    const out = await runbook(
      'failover',
      ['--stack', 'dr', '--inventory', `${dir}/dr.json`, '--to', 'warm', '--dry-run'],
      { LABDOJO_AUDIT_LOG: `${dir}/audit.log` },
    )
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout).toMatch(
      /failover plan for stack dr:.*promote: kubectl --context gke_labdojo-dr_europe-west1_warm -n labdojo patch postgrescluster labdojo/s,
    )
    const bad = await runbook('failover', ['--stack', 'dr', '--inventory', `${dir}/nope.json`, '--dry-run'], {
      LABDOJO_AUDIT_LOG: `${dir}/audit.log`,
    })
    expect([bad.code, /--inventory.*no such file/.test(bad.stderr)]).toEqual([2, true])
    rmSync(dir, { recursive: true, force: true })
  })

  it("failover.ts --stack dr --to warm: fence before promote, so it refuses without the stack that holds the primary (exit 2, nothing asked of any API), and plans to shut prod's primary down with it", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
    const { runbook } = await import('../helpers/site.ts')
    const { cloudInventory } = await import('../helpers/cloud-inventory.ts')
    const dir = mkdtempSync('/tmp/labdojo-inv-')
    writeFileSync(`${dir}/dr.json`, JSON.stringify({ inventory: r.inventory }))
    const prod = cloudInventory({
      nodes: [{ name: 'primary', site: 'primary', role: 'primary', port: 5432, kubeContext: 'labdojo-prod-use1' }],
      repos: [
        {
          index: 1,
          type: 's3',
          path: '/pgbackrest/labdojo/repo1',
          bucket: 'labdojo-backups-primary',
          region: 'us-east-1',
        },
      ],
      endpointPort: 5432,
    })
    prod.inventory.nodes[0]!.host = 'db-primary.use1.labdojo.internal'
    writeFileSync(`${dir}/prod.json`, JSON.stringify(prod))
    const env = { LABDOJO_AUDIT_LOG: `${dir}/audit.log`, PATH: `${dir}:/usr/bin:/bin` } // no kubectl here
    const warmFailover = (...more: string[]) =>
      runbook('failover', ['--stack', 'dr', '--inventory', `${dir}/dr.json`, '--to', 'warm', ...more], env)
    const refused = await warmFailover('--yes')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(
      /--fence-inventory.*names no primary.*could neither tell that it is down nor shut it down/s,
    )
    const plan = await warmFailover('--fence-inventory', `${dir}/prod.json`, '--dry-run')
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(
      /fence \+ switch traffic: .*then shut db-primary\.use1\.labdojo\.internal:5432's cluster down through PGO/,
    )
    const missing = await warmFailover('--fence-inventory', `${dir}/nope.json`, '--dry-run')
    expect([missing.code, /--fence-inventory.*no such file/.test(missing.stderr)]).toEqual([2, true])
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('dr: the Storage Transfer agent', () => {
  it('may write into both sink vaults (without these grants every transfer fails with 403), and its subject id is an output for prod', async () => {
    const grants = r.of('gcp:storage/bucketIAMMember:BucketIAMMember').filter((g) => g.name.includes('-transfer-'))
    const sinks = r.of('gcp:storage/bucket:Bucket').map((b) => b.state.name ?? b.inputs.name)
    for (const role of ['roles/storage.legacyBucketWriter', 'roles/storage.objectViewer'])
      expect(
        grants
          .filter((g) => g.inputs.role === role)
          .map((g) => g.inputs.bucket)
          .sort(),
      ).toEqual([...sinks].sort())
    expect(
      grants.every(
        (g) => g.inputs.member === 'serviceAccount:project-1234@storage-transfer-service.iam.gserviceaccount.com',
      ),
    ).toBe(true)
  })
})

describe('dr: the warm site reaches its GCS repo (defect 6)', () => {
  it('by Workload Identity: repo-gcs-key-type=auto, the pods act as a Google account granted on the vault', () => {
    const w = r.of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster')[0]!.inputs.spec
    expect(w.backups.pgbackrest.global['repo1-gcs-key-type']).toBe('auto')
    const sa = r.of('gcp:serviceaccount/account:Account').find((a) => a.name === 'warm-pgbackrest')!
    expect(w.metadata.annotations['iam.gke.io/gcp-service-account']).toBe(sa.state.email)
    const bindings = r.of('gcp:serviceaccount/iAMMember:IAMMember').map((m) => [m.name, m.inputs.member])
    expect(bindings).toEqual([
      ['warm-pgbackrest-wi-labdojo-instance', 'serviceAccount:labdojo-dr.svc.id.goog[labdojo/labdojo-instance]'],
      ['warm-pgbackrest-wi-labdojo-pgbackrest', 'serviceAccount:labdojo-dr.svc.id.goog[labdojo/labdojo-pgbackrest]'],
      // the DR exporter acts as its own account, which only reads the vaults
      ['dr-monitor-wi', 'serviceAccount:labdojo-dr.svc.id.goog[labdojo/labdojo-monitor]'],
    ])
    const monitorGrants = r
      .of('gcp:storage/bucketIAMMember:BucketIAMMember')
      .filter((g) => g.name.startsWith('dr-monitor'))
    expect(monitorGrants.map((g) => g.inputs.role)).toEqual([
      'roles/storage.objectViewer',
      'roles/storage.objectViewer',
    ])
    const grant = r.of('gcp:storage/bucketIAMMember:BucketIAMMember').find((g) => g.name === 'warm-pgbackrest-objects')!
    expect(grant.inputs.role).toBe('roles/storage.objectAdmin')
  })
})
