/** Stack prod under Pulumi's mock runtime: each guide requirement asserted on the recorded resources. */
import { beforeAll, describe, expect, it } from 'vitest'
import * as pulumi from '@pulumi/pulumi'
import { runProgram, asPolicyResources, violations } from '../helpers/infra.ts'
import { parseInventory } from '../../core/inventory.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { pgbackrestActionsMissing } from '../../infra/policy/rules.ts'
import { AUTO_CREATE_USER_SCHEMA_ANNOTATION, REPLAY_ONLY_ANNOTATION } from '../../core/pgo.ts'
import { HOT_REPO_PATH, REPO_PATH } from '../../infra/sites/prod.ts'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = new URL('../../', import.meta.url).pathname
const policy = loadPolicy(ROOT, 'prod')
let r: Awaited<ReturnType<typeof runProgram>>

beforeAll(async () => {
  r = await runProgram('prod')
})

describe('prod: the outputs the dr stack reads', () => {
  it("exports every output dr's StackReference requires (a missing one fails dr's `pulumi up`: userPasswords was not exported)", async () => {
    const { valueOf } = await import('../../infra/mocks.ts')
    const dr = readFileSync(join(ROOT, 'infra/sites/dr.ts'), 'utf8')
    const required = [...dr.matchAll(/requireOutput\('(\w+)'\)/g)].map((m) => m[1]!)
    expect(required).toEqual(expect.arrayContaining(['replicaBucket', 'repoCipherPass', 'userPasswords']))
    for (const name of required) {
      const out = (r.program as Record<string, unknown>)[name]
      expect(out, `prod exports ${name}`).toBeDefined()
      expect(await valueOf(out as pulumi.Output<unknown>), `prod's ${name} has a value`).toBeTruthy()
    }
  })
})

describe('prod: backup storage', () => {
  it('has two tier-1 backup buckets, each created with object lock, versioned, locked in compliance mode for the full-backup retention', () => {
    const buckets = r.of('aws:s3/bucket:Bucket').filter((b) => b.inputs.tags?.purpose === 'backup')
    expect(buckets.map((b) => [b.inputs.region, b.inputs.objectLockEnabled, b.inputs.tags.tier])).toEqual([
      ['us-west-2', true, '1'],
      ['us-east-1', true, '1'],
    ])
    for (const b of buckets) {
      expect(
        r.of('aws:s3/bucketVersioning:BucketVersioning').find((v) => v.inputs.bucket === b.id)?.inputs
          .versioningConfiguration.status,
      ).toBe('Enabled')
      expect(
        r.of('aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration').find((v) => v.inputs.bucket === b.id)
          ?.inputs.rule.defaultRetention,
      ).toEqual({ mode: 'COMPLIANCE', days: policy.schedules.full.retention / 86400 })
    }
  })

  it('encrypts with customer KMS keys (SSE-KMS, bucket keys), rotated quarterly', () => {
    const keys = r.of('aws:kms/key:Key')
    expect(keys).toHaveLength(3) // a backup key per region, and the alert topic's
    for (const k of keys) expect([k.inputs.enableKeyRotation, k.inputs.rotationPeriodInDays]).toEqual([true, 90])
    for (const s of r.of('aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration')) {
      const d = s.inputs.rules[0].applyServerSideEncryptionByDefault
      expect(d.sseAlgorithm).toBe('aws:kms')
      expect(keys.map((k) => k.state.arn)).toContain(d.kmsMasterKeyId)
    }
  })

  it('never moves a live object to Glacier (pgBackRest cannot read one); versions it no longer uses move after 90 days', () => {
    const lc = r.of('aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration')[0]!
    expect(lc.inputs.rules.filter((x: any) => x.transitions?.length)).toEqual([])
    const history = lc.inputs.rules.find((x: any) => x.noncurrentVersionTransitions?.length)
    expect(history.noncurrentVersionTransitions).toEqual([{ noncurrentDays: 90, storageClass: 'GLACIER' }])
    expect(history.filter).toEqual({ prefix: '' })
  })

  it('pgBackRest writes where the lifecycle looks: repo1-path is set (PGO would default to /pgbackrest/repo1)', () => {
    // the primary's repo, and the hot cluster's own (defect 8): both under the vaults' lifecycle (prefix '')
    expect(
      r
        .of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster')
        .map((c) => [c.name, c.inputs.spec.backups.pgbackrest.global['repo1-path']]),
    ).toEqual([
      ['primary-postgres', '/pgbackrest/labdojo/repo1'],
      ['hot-postgres', '/pgbackrest/labdojo/hot'],
    ])
  })

  it("replicates tier-1 backups to the other region, without replicating pgBackRest's deletes", () => {
    const [rep] = r.of('aws:s3/bucketReplicationConfig:BucketReplicationConfig')
    const replica = r.of('aws:s3/bucket:Bucket').find((b) => b.inputs.region === 'us-west-2')!
    expect(rep!.inputs.region).toBe('us-east-1')
    expect(rep!.inputs.rules[0].destination.bucket).toBe(replica.state.arn)
    expect(rep!.inputs.rules[0].deleteMarkerReplication.status).toBe('Disabled')
    expect(rep!.inputs.rules[0].destination.encryptionConfiguration.replicaKmsKeyId).toMatch(/arn:aws:kms:us-west-2/)
  })

  it('blocks public access on every bucket and denies non-TLS requests', () => {
    const buckets = r.of('aws:s3/bucket:Bucket')
    const pabs = r.of('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock')
    for (const b of buckets)
      expect(pabs.find((p) => p.inputs.bucket === b.id)?.inputs).toMatchObject({
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      })
    const pol = JSON.parse(r.of('aws:s3/bucketPolicy:BucketPolicy')[0]!.inputs.policy)
    expect(pol.Statement[0]).toMatchObject({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })
  })
})

describe('prod: least-privilege access', () => {
  const policyOf = (role: string) =>
    JSON.parse(r.of('aws:iam/rolePolicy:RolePolicy').find((p) => p.name === `backup-access-${role}`)!.inputs.policy)
  it('the writer is what pgBackRest needs (delete too: expire runs with every backup, a delete marker on a locked bucket); no role can delete versions or change the lock', () => {
    const w = policyOf('writer')
    const allowed = w.Statement.filter((s: any) => s.Effect === 'Allow').flatMap((s: any) => s.Action)
    expect(allowed).toEqual(expect.arrayContaining(['s3:PutObject', 's3:DeleteObject', 'kms:GenerateDataKey']))
    expect(pgbackrestActionsMissing(w)).toEqual([])
    for (const role of ['writer', 'reader', 'drill']) {
      const deny = policyOf(role).Statement.find((s: any) => s.Effect === 'Deny').Action
      expect(deny).toEqual(
        expect.arrayContaining([
          's3:DeleteObjectVersion',
          's3:PutBucketObjectLockConfiguration',
          's3:BypassGovernanceRetention',
        ]),
      )
    }
  })
  it('pods assume their roles by web identity (IRSA), the transfer agent by Google federation; no bare account trust (defect 3)', () => {
    const trustOf = (role: string) =>
      JSON.parse(r.of('aws:iam/role:Role').find((x) => x.name === `backup-access-${role}`)!.inputs.assumeRolePolicy)
    const w = trustOf('writer').Statement
    expect(w).toHaveLength(1)
    expect(w[0]).toMatchObject({
      Action: 'sts:AssumeRoleWithWebIdentity',
      Principal: {
        Federated: expect.stringMatching(
          /^arn:aws:iam::\d+:oidc-provider\/oidc\.eks\.us-east-1\.amazonaws\.com\/id\/0A1B2C3D4E5F60718293A4B5C6D7E8F9$/,
        ),
      },
    })
    const cond = w[0].Condition.StringEquals
    const issuer = 'oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9'
    expect(cond[`${issuer}:aud`]).toBe('sts.amazonaws.com')
    expect(cond[`${issuer}:sub`]).toEqual([
      'system:serviceaccount:labdojo:labdojo-instance',
      'system:serviceaccount:labdojo:labdojo-pgbackrest',
      'system:serviceaccount:labdojo:labdojo-export',
    ])
    const reader = trustOf('reader').Statement
    // the hot cluster's PGO pods have a role of their own (StandbyAccess, defect 8), the DR
    // exporters theirs (monitor): the reader is the transfer agent's
    expect(reader.map((x: any) => x.Principal.Federated)).toEqual(['accounts.google.com'])
    expect(reader[0].Condition.StringEquals['accounts.google.com:sub']).toBe('112233445566778899001')
    const monitor = trustOf('monitor').Statement
    expect(monitor.map((x: any) => x.Principal.Federated)).toEqual([
      expect.stringContaining('oidc.eks.us-east-1.amazonaws.com'),
      expect.stringContaining('oidc.eks.us-west-2.amazonaws.com'),
    ])
    for (const st of monitor)
      expect(Object.entries(st.Condition.StringEquals).find(([k]) => k.endsWith(':sub'))![1]).toEqual([
        'system:serviceaccount:labdojo:labdojo-monitor',
      ])
    for (const role of ['writer', 'reader']) expect(JSON.stringify(trustOf(role))).not.toMatch(/:root"/)
  })
  it('the restore reader and the drill role only read (the drill may restore from Glacier)', () => {
    const reader = policyOf('reader').Statement.find((s: any) => s.Sid === 'Allowed').Action
    expect(reader.every((a: string) => /^s3:(Get|List)/.test(a))).toBe(true)
    expect(policyOf('drill').Statement.find((s: any) => s.Sid === 'Allowed').Action).toContain('s3:RestoreObject')
  })
})

describe('prod: PostgreSQL on Kubernetes through PGO', () => {
  const clusters = () => r.of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster')
  it('runs the primary with pgBackRest schedules from the policy and retention from the policy', () => {
    const p = clusters().find((c) => c.name === 'primary-postgres')!.inputs.spec
    expect(p.backups.pgbackrest.repos[0].schedules).toEqual({
      full: '0 2 * * 0',
      incremental: '0 3 * * 1-6',
      differential: '0 4 * * 3',
    })
    expect(p.backups.pgbackrest.global).toMatchObject({
      'repo1-retention-full': '4',
      'repo1-retention-full-type': 'count',
      'repo1-cipher-type': 'aes-256-cbc',
    })
    expect(p.patroni.dynamicConfiguration.synchronous_mode).toBe(true)
    expect(p.standby).toBeUndefined()
  })
  it('runs the hot site as a streaming standby cluster of the primary, at 100% capacity, reading the replica vault', () => {
    const h = clusters().find((c) => c.name === 'hot-postgres')!.inputs.spec
    // N4: it replays from the primary's archive as S3 replicates it when streaming breaks (PGO: restore_command --repo=2)
    expect(h.standby).toEqual({
      enabled: true,
      host: 'db-primary.use1.labdojo.internal',
      port: 5432,
      repoName: 'repo2',
    })
    expect(h.instances[0]).toMatchObject({ replicas: 2, resources: { requests: { cpu: '4', memory: '16Gi' } } })
    const [own, copy] = h.backups.pgbackrest.repos
    expect(own.s3.region).toBe('us-west-2')
    expect(own.schedules).toBeUndefined()
    // repo2 is the replica vault at the primary repo's path: what the vault's replication writes
    expect(copy).toMatchObject({ name: 'repo2', s3: { bucket: own.s3.bucket, region: 'us-west-2' } })
    expect(h.backups.pgbackrest.global['repo2-path']).toBe(REPO_PATH)
    expect(h.backups.pgbackrest.global['repo1-path']).toBe(HOT_REPO_PATH)
    const primary = clusters().find((c) => c.name === 'primary-postgres')!.inputs.spec
    expect(primary.backups.pgbackrest.global['repo1-path']).toBe(REPO_PATH)
    // failover drops it at promotion: the hot cluster never writes a timeline into the primary's copy
    const meta = clusters().find((c) => c.name === 'hot-postgres')!.inputs.metadata
    expect(meta.annotations[REPLAY_ONLY_ANNOTATION]).toBe('repo2')
    // PostgreSQL 15: the application user creates its tables in a schema of its own (gate and annotation, users.go)
    for (const c of clusters()) expect(c.inputs.metadata.annotations[AUTO_CREATE_USER_SCHEMA_ANNOTATION]).toBe('true')
    for (const rel of r.of('kubernetes:helm.sh/v3:Release'))
      expect(rel.inputs.values.features).toEqual({ AutoCreateUserSchema: true })
    // both repos are encrypted with the primary's pass
    const conf = r.of('kubernetes:core/v1:Secret').find((x) => x.name === 'hot-pgbackrest-conf')!
    expect(JSON.stringify(conf.inputs)).toMatch(/repo2-cipher-pass=/)
  })
  it('deploys as PGO 5.7 and pgBackRest 2.54 behave (each item a defect a real `pulumi up` would hit)', () => {
    for (const c of clusters()) {
      const spec = c.inputs.spec
      const g = spec.backups.pgbackrest.global
      // backup-standby=y fails with no standby (one instance, after a promotion); prefer falls back
      expect(g['backup-standby']).toBe('prefer')
      // block incremental: an incr stores the changed blocks, not whole files
      expect(g).toMatchObject({ 'repo1-bundle': 'y', 'repo1-block': 'y' })
      // data_checksums is read-only (initdb's); Patroni would refuse or ignore it
      expect(spec.patroni.dynamicConfiguration.postgresql.parameters.data_checksums).toBeUndefined()
      // wal_level is PGO's (logical, mandatory: internal/postgres/parameters.go): one here is overridden and misleads
      expect(spec.patroni.dynamicConfiguration.postgresql.parameters.wal_level).toBeUndefined()
      // not internet-facing; the site endpoint the inventory and the hot standby name is bound to it (defect N4, second half)
      const site = c.inputs.metadata.labels['labdojo.com/site'] as 'primary' | 'hot'
      expect(spec.service).toEqual({
        type: 'LoadBalancer',
        metadata: {
          annotations: {
            'service.beta.kubernetes.io/aws-load-balancer-internal': 'true',
            'external-dns.alpha.kubernetes.io/hostname': r.inventory.nodes.find((n) => n.site === site)!.host,
          },
        },
      })
      // IRSA where pgBackRest runs: PGO copies spec.metadata onto the accounts it makes
      expect(spec.metadata.annotations['eks.amazonaws.com/role-arn']).toMatch(/^arn:aws:iam::/)
      expect(spec.backups.pgbackrest.metadata).toBeUndefined()
    }
    // no Pulumi-made account of PGO's naming (it would collide with PGO's backup-job account)
    const accounts = r.of('kubernetes:core/v1:ServiceAccount').map((a) => a.inputs.metadata.name)
    expect(accounts).not.toContain('labdojo-pgbackrest')
    expect(accounts).toContain('labdojo-export')
  })

  it('keeps the repo cipher pass a secret: only inside a Kubernetes Secret, exported as a secret output', async () => {
    const secret = r.of('kubernetes:core/v1:Secret').find((s) => s.name === 'primary-pgbackrest-conf')!
    // Pulumi's secret signature: the value travels encrypted in state
    expect(secret.inputs.stringData['4dabf18193072939515e22adb298388d']).toBe('1b47061264138c4ac30d75fd1eb44270')
    expect(secret.inputs.stringData.value['cipher.conf']).toMatch(/^\[global\]\nrepo1-cipher-pass=\S{32,}/)
    expect(JSON.stringify(clusters())).not.toMatch(/cipher-pass=/)
    expect(await pulumi.isSecret(r.program.repoCipherPass as pulumi.Output<string>)).toBe(true)
  })
  it('names its users (no passwordless postgres for the runbooks), and every cluster of the chain carries the same password for each (defects N1, N2)', () => {
    for (const c of clusters()) {
      const spec = c.inputs.spec
      expect(spec.users.map((u: { name: string }) => u.name)).toEqual(['labdojo', 'labdojo-dr', 'labdojo-monitor'])
      expect(spec.users.map((u: { name: string }) => u.name)).not.toContain('postgres')
      expect(spec.databaseInitSQL).toEqual({ name: 'labdojo-init-sql', key: 'init.sql' })
    }
    const initSql = r.of('kubernetes:core/v1:ConfigMap').filter((m) => m.inputs.metadata.name === 'labdojo-init-sql')
    expect(initSql).toHaveLength(2)
    expect(initSql[0]!.inputs.data['init.sql']).toMatch(/GRANT pg_monitor TO "labdojo-monitor"/)
    // the runbooks' user finds the application's tables in its own schema (AutoCreateUserSchema; found by the twin)
    expect(initSql[0]!.inputs.data['init.sql']).toMatch(
      /ALTER ROLE "labdojo-dr" IN DATABASE "labdojo" SET search_path = "labdojo", public;/,
    )
    const secrets = r.of('kubernetes:core/v1:Secret').filter((s) => /-pguser-/.test(s.name))
    // PGO adopts a Secret by its labels and keeps its password (controller/postgrescluster/postgres.go)
    expect(secrets.map((s) => s.inputs.metadata.name).sort()).toEqual(
      ['labdojo', 'labdojo', 'labdojo-dr', 'labdojo-dr', 'labdojo-monitor', 'labdojo-monitor'].map(
        (u) => `labdojo-pguser-${u}`,
      ),
    )
    for (const s of secrets) {
      const user = s.inputs.metadata.labels['postgres-operator.crunchydata.com/pguser']
      expect(s.inputs.metadata.labels).toMatchObject({
        'postgres-operator.crunchydata.com/cluster': 'labdojo',
        'postgres-operator.crunchydata.com/role': 'pguser',
      })
      const twin = secrets.find((o) => o !== s && o.inputs.metadata.name === s.inputs.metadata.name)!
      // one RandomPassword per user, shared: the primary's and the hot cluster's Secrets carry the same output
      expect(JSON.stringify(s.inputs.stringData)).toBe(JSON.stringify(twin.inputs.stringData))
      expect(user).toBe(s.inputs.metadata.name.replace('labdojo-pguser-', ''))
    }
    expect(r.of('random:index/randomPassword:RandomPassword').filter((p) => p.name.startsWith('pguser-'))).toHaveLength(
      3,
    )
    for (const n of r.inventory.nodes) expect(n.user).toBe('labdojo-dr')
  })

  it('the exporter logs in as the monitoring user, over TLS', () => {
    const deployments = r.of('kubernetes:apps/v1:Deployment')
    expect(deployments.length).toBeGreaterThan(0)
    for (const d of deployments) {
      const env = d.inputs.spec.template.spec.containers[0].env
      const byName = (n: string) => env.find((e: { name: string }) => e.name === n)
      expect(byName('PGUSER').valueFrom.secretKeyRef).toEqual({ name: 'labdojo-pguser-labdojo-monitor', key: 'user' })
      expect(byName('PGPASSWORD').valueFrom.secretKeyRef).toEqual({
        name: 'labdojo-pguser-labdojo-monitor',
        key: 'password',
      })
      expect(byName('PGSSLMODE').value).toBe('require')
    }
  })

  it("runs the logical and user-progress exports as CronJobs of our runbooks image, on the policy's schedule", () => {
    const jobs = r.of('kubernetes:batch/v1:CronJob')
    expect(jobs.map((j) => j.inputs.spec.schedule).sort()).toEqual(
      [policy.schedules.userProgressExport.cron, policy.schedules.logicalExport.cron].sort(),
    )
    const pod = jobs[0]!.inputs.spec.jobTemplate.spec.template.spec
    const c = pod.containers[0]
    expect(c.image).toBe('ghcr.io/labdojo/labdojo-dr-runbooks:0.1.0')
    expect(c.args).toEqual([
      'npx',
      'zx',
      'runbooks/backup.ts',
      '--type',
      'logical',
      '--stack',
      'prod',
      '--inventory',
      '/etc/labdojo/inventory.json',
      '--json',
    ])
    // secrets reach the job as env from Secrets, never as values or argv
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.valueFrom?.secretKeyRef ?? e.value]))
    expect(env).toMatchObject({
      PGHOST: { name: 'labdojo-pguser-labdojo', key: 'host' },
      PGPASSWORD: { name: 'labdojo-pguser-labdojo', key: 'password' },
      PGDATABASE: { name: 'labdojo-pguser-labdojo', key: 'dbname' },
      LABDOJO_EXPORT_CIPHER_PASS: { name: 'labdojo-pgbackrest-conf', key: 'export-cipher-pass' },
      LABDOJO_EXPORT_DIR: '/export',
    })
    expect(pod.serviceAccountName).toBeDefined() // IRSA: the writer role, which can put but not delete
    const secret = r.of('kubernetes:core/v1:Secret').find((x) => x.name === 'primary-pgbackrest-conf')!
    expect(secret.inputs.stringData.value['export-cipher-pass']).toMatch(/^\S{32,}$/)
    // where exports go comes from the stack's inventory, published beside the cluster
    expect(pod.volumes).toContainEqual({ name: 'inventory', configMap: { name: 'labdojo-inventory' } })
    const cm = r.of('kubernetes:core/v1:ConfigMap').find((x) => x.inputs.metadata.name === 'labdojo-inventory')!
    expect(
      parseInventory(JSON.parse(cm.inputs.data['inventory.json']), 'configmap').pgbackrest.repos.map((x) => x.bucket),
    ).toEqual(parseInventory(r.inventory, 'prod').pgbackrest.repos.map((x) => x.bucket))
    // the writer cannot delete: the buckets' lifecycle expires exports after the policy's retention
    for (const lc of r.of('aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration'))
      expect(lc.inputs.rules).toContainEqual({
        id: 'exports-expire',
        status: 'Enabled',
        filter: { prefix: 'exports/' },
        expiration: { days: 30 },
      })
  })
})

describe('prod: DNS failover and monitoring', () => {
  it("fails over by Route53: PRIMARY/SECONDARY records, the primary's health from the exporters' PrimaryUp alarm (defect 9)", () => {
    // Route53's checkers cannot reach a private endpoint: the health check reads a CloudWatch alarm
    const [hc] = r.of('aws:route53/healthCheck:HealthCheck')
    const alarm = r.of('aws:cloudwatch/metricAlarm:MetricAlarm').find((a) => a.name === 'db-primary-up')!
    expect(hc!.inputs).toMatchObject({
      type: 'CLOUDWATCH_METRIC',
      cloudwatchAlarmRegion: 'us-west-2', // the hot region: losing the primary's region must not take the alarm
      insufficientDataHealthStatus: 'LastKnownStatus', // no data (exporters down) never moves traffic
    })
    expect(hc!.inputs.fqdn).toBeUndefined()
    // failover.ts --watch asks the same alarm before it promotes (defect 16)
    expect(r.inventory.endpoint.observer).toEqual({ alarmName: alarm.state.name, region: 'us-west-2' })
    expect(alarm.inputs).toMatchObject({
      region: 'us-west-2',
      namespace: 'LabDojo/DR',
      metricName: 'PrimaryUp',
      dimensions: { Stack: 'prod' },
      statistic: 'Maximum', // down only when no observer sees the primary
      comparisonOperator: 'LessThanThreshold',
      threshold: 1,
      evaluationPeriods: policy.detection.failureThreshold,
      treatMissingData: 'missing',
    })
    // every exporter publishes there, with a role allowed that namespace alone
    const deps = r.of('kubernetes:apps/v1:Deployment').filter((d) => d.inputs.metadata.name === 'labdojo-monitor')
    expect(deps).toHaveLength(2)
    for (const d of deps)
      expect(d.inputs.spec.template.spec.containers[0].env).toEqual(
        expect.arrayContaining([
          { name: 'LABDOJO_CLOUDWATCH_NAMESPACE', value: 'LabDojo/DR' },
          { name: 'LABDOJO_CLOUDWATCH_REGION', value: 'us-west-2' },
        ]),
      )
    const monitorPolicy = JSON.parse(
      r.of('aws:iam/rolePolicy:RolePolicy').find((x) => x.name === 'backup-access-monitor')!.inputs.policy,
    )
    expect(monitorPolicy.Statement.find((x: any) => x.Sid === 'PublishPrimaryUp').Condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': 'LabDojo/DR' },
    })
    const recs = r
      .of('aws:route53/record:Record')
      .sort((a, b) => a.inputs.setIdentifier.localeCompare(b.inputs.setIdentifier))
      .reverse()
    expect(
      recs.map((x) => [x.inputs.failoverRoutingPolicies[0].type, x.inputs.records[0], !!x.inputs.healthCheckId]),
    ).toEqual([
      ['PRIMARY', 'db-primary.use1.labdojo.internal', true],
      ['SECONDARY', 'db-hot.usw2.labdojo.internal', false],
    ])
  })
  it('alarms only on metrics AWS publishes (storage usage, offsite replication latency), thresholds from the policy', () => {
    const all = r.of('aws:cloudwatch/metricAlarm:MetricAlarm').filter((a) => a.name !== 'db-primary-up')
    const alarms = Object.fromEntries(all.map((a) => [a.name.replace('dr-', ''), a.inputs]))
    expect(Object.keys(alarms).sort()).toEqual(['offsite-sync', 'storage-usage'])
    // an alarm on a metric nobody publishes (treated as breaching) fires forever: none is declared
    for (const a of all) expect(a.inputs.namespace).toMatch(/^AWS\//)
    expect(alarms['offsite-sync']!.threshold).toBe(policy.tiers[1].rpo)
    expect(alarms['storage-usage']!.threshold).toBe(Math.round(10240 * 1024 ** 3 * 0.85))
    const topic = r.of('aws:sns/topic:Topic')[0]!
    for (const a of Object.values(alarms)) expect(a.alarmActions).toEqual([topic.state.arn])
  })
  it('encrypts the alert topic with a key CloudWatch may use (with the default key policy every alarm notification is dropped)', () => {
    const topic = r.of('aws:sns/topic:Topic')[0]!
    const key = r.of('aws:kms/key:Key').find((k) => k.state.arn === topic.inputs.kmsMasterKeyId)!
    const policy = JSON.parse(key.inputs.policy)
    const svc = policy.Statement.find((st: any) => st.Principal.Service)
    expect(svc.Principal.Service).toEqual(['cloudwatch.amazonaws.com'])
    expect(svc.Action).toEqual(['kms:GenerateDataKey*', 'kms:Decrypt'])
    expect(policy.Statement.find((st: any) => st.Action === 'kms:*').Principal.AWS).toMatch(/^arn:aws:iam::\d+:root$/)
    // the backup keys keep their closed policy
    const backupKeys = r.of('aws:kms/key:Key').filter((k) => k !== key)
    expect(backupKeys.every((k) => k.inputs.policy === undefined)).toBe(true)
  })
  it("subscribes the communication plan's recipients in its order", () => {
    expect(r.of('aws:sns/topicSubscription:TopicSubscription').map((s) => s.inputs.endpoint)).toEqual([
      'itops@labdojo.com',
      'bc@labdojo.com',
      'exec@labdojo.com',
    ])
  })
})

describe('prod: inventory and policy pack', () => {
  it('exports an inventory the runbooks accept', () => {
    const inv = parseInventory(r.inventory, 'prod')
    expect(inv.endpoint).toMatchObject({ kind: 'route53', zoneId: 'Z0123456789LABDOJO', recordName: 'db.labdojo.com' })
    expect(inv.pgbackrest.repos.map((x) => x.region)).toEqual(['us-east-1', 'us-west-2'])
  })
  it('passes every policy of the pack', async () => {
    expect(await violations(asPolicyResources(r.recorded))).toEqual([])
  })
  it('fails loudly on a provider call the mocks do not know', async () => {
    await expect(pulumi.runtime.invoke('aws:index/getRegion:getRegion', {})).rejects.toBeInstanceOf(Error)
    const { mockCall } = await import('../../infra/mocks.ts')
    expect(() => mockCall({ token: 'aws:index/getRegion:getRegion', inputs: {} })).toThrow(
      /unmocked provider call aws:index\/getRegion:getRegion/,
    )
  })
})

describe('prod: the hot site streams across two PGO installs (defect 7)', () => {
  it('both clusters carry certificates of one CA: server, and replication with CN _crunchyrepl; the keys stay secret', async () => {
    const { unsecret, isSecret } = await import('../helpers/k8s-schemas.ts')
    for (const c of r.of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster'))
      expect([c.inputs.spec.customTLSSecret, c.inputs.spec.customReplicationTLSSecret]).toEqual([
        { name: 'labdojo-tls' },
        { name: 'labdojo-replication-tls' },
      ])
    const secrets = r
      .of('kubernetes:core/v1:Secret')
      .filter((s) => ['labdojo-tls', 'labdojo-replication-tls'].includes(s.inputs.metadata.name))
    expect(secrets).toHaveLength(4) // two per cluster
    expect(new Set(secrets.map((s) => unsecret(s.inputs.stringData)['ca.crt'])).size).toBe(1)
    for (const s of secrets) {
      expect(isSecret(s.inputs.stringData)).toBe(true)
      expect(Object.keys(unsecret(s.inputs.stringData)).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key'])
    }
    const ca = r.of('tls:index/selfSignedCert:SelfSignedCert')
    expect(ca.map((x) => x.inputs.isCaCertificate)).toEqual([true])
    const csrs = r.of('tls:index/certRequest:CertRequest')
    expect(csrs.find((x) => x.name.includes('replication'))!.inputs.subject.commonName).toBe('_crunchyrepl')
    const hot = csrs.find((x) => x.name === 'hot-server-csr')!
    expect(hot.inputs.dnsNames).toEqual(
      expect.arrayContaining(['labdojo-primary.labdojo.svc', 'db-hot.usw2.labdojo.internal']),
    )
    // every leaf is signed by that one CA
    for (const cert of r.of('tls:index/locallySignedCert:LocallySignedCert'))
      expect(cert.inputs.caCertPem).toBe(ca[0]!.state.certPem)
  })
})

describe('prod: the hot site can archive and back up once promoted, into a repo of its own (defect 8)', () => {
  it("its pods' role writes under its own prefix of the replica vault only, reads the rest, never deletes a version", () => {
    const hot = r
      .of('kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster')
      .find((c) => c.name === 'hot-postgres')!
    const role = r.of('aws:iam/role:Role').find((x) => x.name === 'hot-pgbackrest')!
    expect(hot.inputs.spec.metadata.annotations['eks.amazonaws.com/role-arn']).toBe(role.state.arn)
    const trust = JSON.parse(role.inputs.assumeRolePolicy).Statement
    expect(trust.map((x: any) => x.Principal.Federated)).toEqual([
      expect.stringContaining('oidc.eks.us-west-2.amazonaws.com'),
    ])
    const doc = JSON.parse(
      r.of('aws:iam/rolePolicy:RolePolicy').find((x) => x.name === 'hot-pgbackrest')!.inputs.policy,
    )
    expect(pgbackrestActionsMissing(doc)).toEqual([]) // list, get, put, delete and the key: a promoted hot site backs up
    const write = doc.Statement.find((x: any) => x.Sid === 'PgBackRestRepo')
    const replica = r
      .of('aws:s3/bucket:Bucket')
      .find((b) => b.inputs.region === 'us-west-2' && b.inputs.tags?.purpose === 'backup')!
    expect(write.Resource).toEqual([replica.state.arn, `${replica.state.arn}/pgbackrest/labdojo/hot/*`])
    const deny = doc.Statement.find((x: any) => x.Effect === 'Deny')
    expect(deny.Action).toEqual(expect.arrayContaining(['s3:DeleteObjectVersion']))
  })
})
