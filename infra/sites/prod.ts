/**
 * Stack prod: the primary site (AWS, region A) and the hot site (AWS, region B).
 * Backups: pgBackRest repo1 in the primary vault, replicated cross-region to the replica
 * vault, which the hot site (and, through the dr stack, the warm and cold sites) read.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import type { ProdConfig } from '../config.ts'
import { fullBackupLockDays, fullsRetained, offsiteRetentionDays } from '../../core/policy.ts'
import { AwsKey } from '../components/encryption-keys.ts'
import { BackupVault } from '../components/backup-vault.ts'
import { BackupAccess } from '../components/backup-access.ts'
import { PostgresCluster } from '../components/postgres-cluster.ts'
import { DnsFailover } from '../components/dns-failover.ts'
import { Monitoring } from '../components/monitoring.ts'
import { ClusterMonitoring } from '../components/cluster-monitoring.ts'
import { ReplicationTls } from '../components/replication-tls.ts'
import { CLOUDWATCH_NAMESPACE } from '../../core/alerts.ts'
import { StandbyAccess } from '../components/standby-access.ts'
import type { Inventory } from '../../core/inventory.ts'
import * as random from '@pulumi/random'
import { DR_USER, PGO_USERS, type PgoUserName, type RepoSpec } from '../components/pgo-manifests.ts'

export const STANZA = 'db' // PGO's stanza name
export const REPO_PATH = '/pgbackrest/labdojo/repo1'
/** the hot cluster's own repo in the replica vault: where it archives and backs up once promoted (defect 8) */
export const HOT_REPO_PATH = '/pgbackrest/labdojo/hot'

export function prodStack(c: ProdConfig) {
  const p = c.policy
  const { primaryKey, hotKey, vault, replica } = prodVaults(c)
  const account = aws.getCallerIdentityOutput({})
  const access = new BackupAccess('backup-access', {
    site: 'prod',
    bucketArns: [vault.arn, replica.arn],
    kmsKeyArns: [primaryKey.arn, hotKey.arn],
    accountId: account.accountId,
    writerIssuers: [c.primary.oidcIssuer!],
    readerIssuers: [], // the hot cluster's pods have a role of their own (StandbyAccess)
    transferAgentSubjectId: c.transferAgentSubjectId,
    monitorIssuers: [c.primary.oidcIssuer!, c.hot.oidcIssuer!],
  })
  const standby = hotStandbyAccess(c, replica, hotKey, account.accountId)
  const userPasswords = chainUserPasswords()
  const { primary, hot } = prodClusters(c, { vault, replica }, access, standby, userPasswords)
  const dns = new DnsFailover('db', {
    zoneId: c.dns.zoneId,
    recordName: c.dns.recordName,
    primaryTarget: c.primary.endpoint!,
    secondaryTarget: c.hot.endpoint!,
    alarmRegion: c.hot.region,
    stack: 'prod',
    policy: p,
  })
  // the alert topic's own key: CloudWatch must be able to encrypt with it (the backup key's policy stays closed)
  const alertsKey = new AwsKey('alerts', {
    site: 'primary',
    region: c.primary.region,
    purpose: 'alerts',
    accountId: account.accountId,
    services: ['cloudwatch.amazonaws.com'],
  })
  const monitoring = new Monitoring('dr', {
    region: c.primary.region,
    policy: p,
    kmsKeyArn: alertsKey.arn,
    recipients: c.alertEmails,
    backupBucket: vault.name,
    replicaBucket: replica.name,
    replicationRuleId: 'tier1-cross-region',
    storageCapacityBytes: c.storageCapacityBytes,
  })
  const inventory: pulumi.Output<Inventory> = pulumi
    .all([vault.name, replica.name, primaryKey.arn, hotKey.arn, dns.alarmName])
    .apply(([vb, rb, pk, hk, alarm]) => prodInventory(c, { vb, rb, pk, hk, alarm }))
  monitorEachCluster(c, { primary, hot }, access, inventory)
  return {
    inventory,
    replicaBucket: replica.name,
    replicaRegion: c.hot.region,
    transferReaderRoleArn: access.roles.reader.arn,
    repoCipherPass: pulumi.secret(primary.cipherPass),
    // the dr stack's warm cluster takes the same users' passwords (a client logs in after any failover)
    userPasswords: pulumi.secret(pulumi.all(userPasswords)),
    alertTopicArn: monitoring.topic.arn,
  }
}

/**
 * The export CronJobs and the DR exporter read the stack's inventory from a ConfigMap; each
 * region watches the whole stack and alerts on its own (a lost primary region cannot silence the hot one).
 */
function monitorEachCluster(
  c: ProdConfig,
  clusters: Record<'primary' | 'hot', PostgresCluster>,
  access: BackupAccess,
  inventory: pulumi.Output<Inventory>,
) {
  for (const [site, cluster] of Object.entries(clusters) as ['primary' | 'hot', PostgresCluster][]) {
    const published = cluster.publishInventory(inventory.apply((i) => JSON.stringify(i, null, 2)))
    new ClusterMonitoring(`${site}-monitoring`, {
      ...c.monitoring,
      site,
      stack: 'prod',
      policy: c.policy,
      namespace: 'labdojo',
      runbookImage: c.runbookImage,
      emails: c.alertEmails,
      identity: { awsRoleArn: access.roles.monitor.arn },
      cloudwatch: { namespace: CLOUDWATCH_NAMESPACE, region: c.hot.region },
      provider: cluster.provider,
      dependsOn: [published, cluster.cluster],
    })
  }
}

function hotStandbyAccess(c: ProdConfig, replica: BackupVault, hotKey: AwsKey, accountId: pulumi.Input<string>) {
  return new StandbyAccess('hot-pgbackrest', {
    accountId,
    issuer: c.hot.oidcIssuer!,
    bucketArn: replica.arn,
    prefix: HOT_REPO_PATH.slice(1),
    kmsKeyArn: hotKey.arn,
  })
}

/** One password per PGO user for every cluster of the chain (prod's two and dr's warm), generated once. */
function chainUserPasswords(): Record<PgoUserName, pulumi.Output<string>> {
  return Object.fromEntries(
    PGO_USERS.map((u) => [
      u.name,
      new random.RandomPassword(`pguser-${u.name}`, { length: 40, special: false }).result,
    ]),
  ) as Record<PgoUserName, pulumi.Output<string>>
}

/** The customer keys and the two vaults: the primary's, replicated to the hot region's. */
function prodVaults(c: ProdConfig) {
  const p = c.policy
  const days = (s: number) => Math.ceil(s / 86400)
  const exportDays = days(Math.max(p.schedules.logicalExport.retention, p.schedules.userProgressExport.retention))
  const primaryKey = new AwsKey('primary-backup', { site: 'primary', region: c.primary.region, purpose: 'backup' })
  const hotKey = new AwsKey('hot-backup', { site: 'hot', region: c.hot.region, purpose: 'backup' })
  const replica = new BackupVault(`${c.bucketPrefix}-replica`, {
    site: 'hot',
    region: c.hot.region,
    kmsKeyArn: hotKey.arn,
    tier: 1,
    lockDays: fullBackupLockDays(p),
    keepVersionsDays: offsiteRetentionDays(p),
    glacierAfterDays: c.glacierAfterDays,
    exportRetentionDays: exportDays,
  })
  const vault = new BackupVault(`${c.bucketPrefix}-primary`, {
    site: 'primary',
    region: c.primary.region,
    kmsKeyArn: primaryKey.arn,
    tier: 1,
    lockDays: fullBackupLockDays(p),
    keepVersionsDays: offsiteRetentionDays(p),
    glacierAfterDays: c.glacierAfterDays,
    exportRetentionDays: exportDays,
    replicateTo: { bucketArn: replica.arn, region: c.hot.region, kmsKeyArn: hotKey.arn },
  })
  return { primaryKey, hotKey, vault, replica }
}

/** The primary cluster (schedules, writer role) and the hot standby cluster (streaming, reader role). */
function prodClusters(
  c: ProdConfig,
  { vault, replica }: { vault: BackupVault; replica: BackupVault },
  access: BackupAccess,
  standby: StandbyAccess,
  userPasswords: Record<PgoUserName, pulumi.Output<string>>,
) {
  const p = c.policy
  // one CA for both: PGO replicates with verify-ca and certificates, and two installs each make their own
  const tls = new ReplicationTls('replication')
  const names = (cfg: typeof c.primary) => [
    'labdojo-primary.labdojo.svc',
    'labdojo-primary.labdojo.svc.cluster.local',
    'labdojo-primary',
    cfg.endpoint!,
    // clients reach either cluster by the failover record's name: verify-full checks it (found by the twin)
    c.dns.recordName,
  ]
  const common = {
    policy: p,
    namespace: 'labdojo',
    pgoVersion: c.pgoVersion,
    runbookImage: c.runbookImage,
    stack: 'prod',
    userPasswords,
  }
  const primary = new PostgresCluster('primary', {
    ...common,
    site: 'primary',
    config: c.primary,
    tls: tls.forCluster('primary', names(c.primary)),
    repos: [
      {
        name: 'repo1',
        path: REPO_PATH,
        s3: { bucket: vault.name, region: c.primary.region, roleArn: access.roles.writer.arn },
        scheduled: true,
        retentionFull: fullsRetained(p),
        retentionFullType: 'count',
      },
    ],
  })
  const hot = new PostgresCluster('hot', {
    ...common,
    site: 'hot',
    config: c.hot,
    repos: hotRepos(c, replica, standby),
    standby: { host: c.primary.endpoint, repoName: 'repo2', replayOnly: ['repo2'] },
    cipherPass: primary.cipherPass,
    tls: tls.forCluster('hot', names(c.hot)),
  })
  return { primary, hot }
}

/**
 * The hot cluster's repos: its own in the replica vault (where it archives and backs up once
 * promoted), and (N4) the primary's repo as S3 replicates it into this region, read-only: when
 * streaming breaks for longer than the primary keeps its WAL (PGO runs Patroni without slots), the
 * hot cluster replays from there and catches up; failover drops it at promotion (replayOnly).
 */
function hotRepos(c: ProdConfig, replica: BackupVault, standby: StandbyAccess): RepoSpec[] {
  const p = c.policy
  const s3 = { bucket: replica.name, region: c.hot.region, roleArn: standby.role.arn }
  const retention = { retentionFull: fullsRetained(p), retentionFullType: 'count' as const }
  return [
    { name: 'repo1', path: HOT_REPO_PATH, s3, scheduled: false, ...retention },
    { name: 'repo2', path: REPO_PATH, s3, scheduled: false, ...retention },
  ]
}

/** The prod stack's inventory (the runbooks' contract), from the names the providers assigned. */
// eslint-disable-next-line max-lines-per-function -- one literal: the inventory contract, field by field
export function prodInventory(
  c: ProdConfig,
  names: { vb: string; rb: string; pk: string; hk: string; alarm: string },
): Inventory {
  const p = c.policy
  const { vb, rb, pk, hk } = names
  const node = (name: string, site: 'primary' | 'hot', cfg: typeof c.primary, role: 'primary' | 'standby') => ({
    name,
    site,
    role,
    host: cfg.endpoint!,
    port: 5432,
    database: 'labdojo',
    // PGO's user for the runbooks (its password in the labdojo-pguser-labdojo-dr Secret); postgres has none
    user: DR_USER,
    kubeContext: cfg.kubeContext,
    namespace: 'labdojo',
    // PGO's only password rule is `hostssl all all all md5` (internal/postgres/hba.go): no TLS, no login
    sslmode: 'require' as const,
  })
  return {
    stack: 'prod',
    provider: 'aws',
    sites: [
      { name: 'primary', provider: 'aws', region: c.primary.region, nodes: ['primary'] },
      { name: 'hot', provider: 'aws', region: c.hot.region, nodes: ['hot'] },
    ],
    nodes: [node('primary', 'primary', c.primary, 'primary'), node('hot', 'hot', c.hot, 'standby')],
    pgbackrest: {
      stanza: STANZA,
      repos: [
        {
          index: 1,
          type: 's3',
          path: REPO_PATH,
          bucket: vb,
          region: c.primary.region,
          encrypted: true,
          cipherPassRef: 'k8s:labdojo/labdojo-pgbackrest-conf',
          site: 'primary',
        },
        {
          index: 2,
          type: 's3',
          path: REPO_PATH,
          bucket: rb,
          region: c.hot.region,
          encrypted: true,
          cipherPassRef: 'k8s:labdojo/labdojo-pgbackrest-conf',
          site: 'hot',
        },
      ],
    },
    buckets: [
      {
        name: vb,
        provider: 'aws',
        region: c.primary.region,
        purpose: 'backup',
        versioning: true,
        objectLockDays: fullBackupLockDays(p),
      },
      {
        name: rb,
        provider: 'aws',
        region: c.hot.region,
        purpose: 'offsite',
        versioning: true,
        objectLockDays: fullBackupLockDays(p),
      },
    ],
    keys: [
      { id: pk, provider: 'aws', purpose: 'primary backup', rotationDays: 90 },
      { id: hk, provider: 'aws', purpose: 'hot backup', rotationDays: 90 },
    ],
    endpoint: {
      kind: 'route53',
      host: c.dns.recordName,
      port: 5432,
      database: 'labdojo',
      zoneId: c.dns.zoneId,
      recordName: c.dns.recordName,
      observer: { alarmName: names.alarm, region: c.hot.region },
    },
    // DNS health is a CloudWatch alarm on the exporters' PrimaryUp (DnsFailover), not a URL to probe
    healthChecks: [],
  }
}
