/**
 * Stack dr: the warm site (GCP; hourly sync, manual failover, 75% capacity) and the cold site
 * (a backup-only archive in another provider than the primary). Both are fed from prod's
 * replica vault, read through a StackReference whose name comes from config.
 */
import * as pulumi from '@pulumi/pulumi'
import * as gcp from '@pulumi/gcp'
import type { DrConfig } from '../config.ts'
import { scaleQuantity } from '../config.ts'
import { fullBackupLockDays, fullsRetained, offsiteRetentionDays } from '../../core/policy.ts'
import { GcpKey } from '../components/encryption-keys.ts'
import { GcsVault } from '../components/gcs-vault.ts'
import { PostgresCluster } from '../components/postgres-cluster.ts'
import { ClusterMonitoring } from '../components/cluster-monitoring.ts'
import { MONITOR_NAME } from '../components/monitoring-manifests.ts'
import type { Inventory } from '../../core/inventory.ts'
import { REPO_PATH, STANZA } from './prod.ts'

/**
 * Where the warm cluster archives and backs up once promoted, in the warm vault: a path of its
 * own, which Storage Transfer never writes (it copies prod's repo, REPO_PATH, into the same vault
 * every hour; a promoted cluster archiving there would have its backup.info and archive.info
 * overwritten by prod's copies: issue 25, defect 3).
 */
export const WARM_REPO_PATH = '/pgbackrest/labdojo/warm'
import { DR_USER, type PgoUserName } from '../components/pgo-manifests.ts'

/** GCS soft delete, at its maximum: a deleted object or version stays recoverable 90 days (see GcsVault). */
export const GCS_SOFT_DELETE_DAYS = 90

/** Storage Transfer Service: copy prod's replica vault into a GCS vault on a schedule. */
function transfer(
  name: string,
  c: DrConfig,
  prod: pulumi.StackReference,
  sink: pulumi.Output<string>,
  everyHours: number,
) {
  return new gcp.storage.TransferJob(name, {
    project: c.gcpProject,
    description: `labdojo-dr: prod replica vault -> ${name} every ${everyHours} h`,
    transferSpec: {
      awsS3DataSource: {
        bucketName: prod.requireOutput('replicaBucket') as pulumi.Output<string>,
        roleArn: prod.requireOutput('transferReaderRoleArn') as pulumi.Output<string>,
      },
      gcsDataSink: { bucketName: sink },
      // prod's repo only: never the path a promoted warm cluster archives into (WARM_REPO_PATH)
      objectConditions: { includePrefixes: [`${REPO_PATH.slice(1)}/`] },
      transferOptions: {
        deleteObjectsFromSourceAfterTransfer: false,
        deleteObjectsUniqueInSink: false,
        overwriteWhen: 'DIFFERENT',
      },
    },
    schedule: { scheduleStartDate: { year: 2026, month: 1, day: 1 }, repeatInterval: `${everyHours * 3600}s` },
  })
}

/**
 * The Storage Transfer service agent writes into the sink vaults: it needs the bucket (legacy
 * writer: list, create, replace) and to read what it wrote (object viewer). Without these grants
 * every transfer fails with 403.
 */
function transferAgentOnSinks(c: DrConfig, sinks: Record<string, GcsVault>) {
  const agent = gcp.storage.getTransferProjectServiceAccountOutput({ project: c.gcpProject })
  for (const [site, v] of Object.entries(sinks))
    for (const role of ['roles/storage.legacyBucketWriter', 'roles/storage.objectViewer'])
      new gcp.storage.BucketIAMMember(`${site}-transfer-${role.split('.').pop()}`, {
        bucket: v.name,
        role,
        member: pulumi.interpolate`serviceAccount:${agent.email}`,
      })
  return agent
}

export function drStack(c: DrConfig) {
  const p = c.policy
  const prod = new pulumi.StackReference(c.prodStack)
  const { warmKey, coldKey, warmVault, coldVault } = drVaults(c)
  // sync cadence from the policy: warm hourly (its RPO), cold daily (its RPO)
  const agent = transferAgentOnSinks(c, { warm: warmVault, cold: coldVault })
  transfer('warm-sync', c, prod, warmVault.name, Math.max(1, Math.round(p.sites.warm.rpo / 3600)))
  transfer('cold-sync', c, prod, coldVault.name, Math.max(1, Math.round(p.sites.cold.rpo / 3600)))
  const warm = warmCluster(c, prod, warmVault)
  const inventory: pulumi.Output<Inventory> = pulumi
    .all([warmVault.name, coldVault.name, warmKey.id, coldKey.id])
    .apply(([wb, cb, wk, ck]) => drInventory(c, { wb, cb, wk, ck }))
  const published = warm.publishInventory(inventory.apply((i) => JSON.stringify(i, null, 2)))
  new ClusterMonitoring('warm-monitoring', {
    ...c.monitoring,
    site: 'warm',
    stack: 'dr',
    policy: p,
    namespace: 'labdojo',
    runbookImage: c.runbookImage,
    emails: c.alertEmails,
    identity: { gcpServiceAccount: monitorAccount(c, [warmVault, coldVault]) },
    provider: warm.provider,
    dependsOn: [published, warm.cluster],
  })
  // prod's labdojo-dr:transferAgentSubjectId: the reader role trusts this agent by Google federation
  return { inventory, warmBucket: warmVault.name, coldBucket: coldVault.name, transferAgentSubjectId: agent.subjectId }
}

/** Customer keys and the two GCS vaults: warm (the repo the warm standby replays) and cold (backup only). */
function drVaults(c: DrConfig) {
  const p = c.policy
  const warmKey = new GcpKey('warm-backup', { site: 'warm', location: c.warm.region, purpose: 'backup' })
  const coldKey = new GcpKey('cold-backup', { site: 'cold', location: c.cold.region, purpose: 'backup' })
  const warmVault = new GcsVault(`${c.bucketPrefix}-warm`, {
    site: 'warm',
    location: c.warm.region,
    project: c.gcpProject,
    kmsKeyId: warmKey.id,
    softDeleteDays: GCS_SOFT_DELETE_DAYS,
    keepVersionsDays: offsiteRetentionDays(p),
    archiveAfterDays: c.archiveAfterDays,
    tier: 1,
  })
  const coldVault = new GcsVault(`${c.bucketPrefix}-cold`, {
    site: 'cold',
    location: c.cold.region,
    project: c.gcpProject,
    kmsKeyId: coldKey.id,
    softDeleteDays: GCS_SOFT_DELETE_DAYS,
    keepVersionsDays: offsiteRetentionDays(p),
    archiveAfterDays: c.archiveAfterDays,
    tier: 1,
  })
  return { warmKey, coldKey, warmVault, coldVault }
}

/** The warm site: a repo-fed PGO standby at the policy's share of the primary's capacity. */
/**
 * The Google account the warm cluster's pgBackRest acts as (GKE Workload Identity: PGO's pod
 * accounts may act as it; repo-gcs-key-type=auto, no key file). pgBackRest lists, reads, writes
 * and expires (a delete leaves a noncurrent version: versioning and soft delete keep it).
 */
function warmRepoAccount(c: DrConfig, vault: GcsVault): pulumi.Output<string> {
  const sa = new gcp.serviceaccount.Account('warm-pgbackrest', {
    project: c.gcpProject,
    accountId: 'labdojo-warm-pgbackrest',
    displayName: 'labdojo-dr warm site pgBackRest (Workload Identity)',
  })
  new gcp.storage.BucketIAMMember('warm-pgbackrest-objects', {
    bucket: vault.name,
    role: 'roles/storage.objectAdmin',
    member: pulumi.interpolate`serviceAccount:${sa.email}`,
  })
  for (const ksa of ['labdojo-instance', 'labdojo-pgbackrest'])
    new gcp.serviceaccount.IAMMember(`warm-pgbackrest-wi-${ksa}`, {
      serviceAccountId: sa.name,
      role: 'roles/iam.workloadIdentityUser',
      member: `serviceAccount:${c.gcpProject}.svc.id.goog[labdojo/${ksa}]`,
    })
  return sa.email
}

/** The DR exporter's Google account (Workload Identity for labdojo-monitor): it reads both vaults, nothing more. */
function monitorAccount(c: DrConfig, vaults: GcsVault[]): pulumi.Output<string> {
  const sa = new gcp.serviceaccount.Account('dr-monitor', {
    project: c.gcpProject,
    accountId: 'labdojo-dr-monitor',
    displayName: 'labdojo-dr exporter (reads the vaults; Workload Identity)',
  })
  vaults.forEach(
    (v, i) =>
      new gcp.storage.BucketIAMMember(`dr-monitor-read-${i}`, {
        bucket: v.name,
        role: 'roles/storage.objectViewer',
        member: pulumi.interpolate`serviceAccount:${sa.email}`,
      }),
  )
  new gcp.serviceaccount.IAMMember('dr-monitor-wi', {
    serviceAccountId: sa.name,
    role: 'roles/iam.workloadIdentityUser',
    member: `serviceAccount:${c.gcpProject}.svc.id.goog[labdojo/${MONITOR_NAME}]`,
  })
  return sa.email
}

function prodUserPasswords(prod: pulumi.StackReference): Record<PgoUserName, pulumi.Output<string>> {
  const all = prod.requireOutput('userPasswords') as pulumi.Output<Record<PgoUserName, string>>
  const one = (u: PgoUserName) => pulumi.secret(all.apply((p) => p[u]))
  return { labdojo: one('labdojo'), 'labdojo-dr': one('labdojo-dr'), 'labdojo-monitor': one('labdojo-monitor') }
}

function warmCluster(c: DrConfig, prod: pulumi.StackReference, warmVault: GcsVault): PostgresCluster {
  const p = c.policy
  const capacity = p.sites.warm.capacity
  const serviceAccount = warmRepoAccount(c, warmVault)
  return new PostgresCluster('warm', {
    site: 'warm',
    config: { ...c.warm, cpu: scaleQuantity(c.warm.cpu, capacity), memory: scaleQuantity(c.warm.memory, capacity) },
    policy: p,
    namespace: 'labdojo',
    pgoVersion: c.pgoVersion,
    runbookImage: c.runbookImage,
    stack: 'dr',
    // repo1: its own (where it archives once promoted); repo2: prod's repo as Storage Transfer
    // copies it into the warm vault, replayed while a standby and dropped at promotion (replayOnly)
    repos: (['repo1', 'repo2'] as const).map((name) => ({
      name,
      path: name === 'repo1' ? WARM_REPO_PATH : REPO_PATH,
      gcs: { bucket: warmVault.name, serviceAccount },
      scheduled: false,
      retentionFull: fullsRetained(p),
      retentionFullType: 'count' as const,
    })),
    standby: { repoName: 'repo2', replayOnly: ['repo2'] },
    cipherPass: prod.requireOutput('repoCipherPass') as pulumi.Output<string>,
    // prod's users and passwords: once the warm site is promoted, clients log in as before
    userPasswords: prodUserPasswords(prod),
  })
}

/** The dr stack's inventory (the runbooks' contract), from the names the providers assigned. */
// eslint-disable-next-line max-lines-per-function -- one literal: the inventory contract, field by field
export function drInventory(c: DrConfig, names: { wb: string; cb: string; wk: string; ck: string }): Inventory {
  const p = c.policy
  const { wb, cb, wk, ck } = names
  return {
    stack: 'dr',
    provider: 'gcp',
    sites: [
      { name: 'warm', provider: 'gcp', region: c.warm.region, nodes: ['warm'] },
      { name: 'cold', provider: 'gcp', region: c.cold.region, nodes: [] },
    ],
    nodes: [
      {
        name: 'warm',
        site: 'warm',
        role: 'standby',
        host: c.warm.endpoint!,
        port: 5432,
        database: 'labdojo',
        user: DR_USER,
        kubeContext: c.warm.kubeContext,
        namespace: 'labdojo',
        // PGO's only password rule is `hostssl all all all md5` (internal/postgres/hba.go): no TLS, no login
        sslmode: 'require' as const,
      },
    ],
    pgbackrest: {
      stanza: STANZA,
      repos: [
        {
          index: 1,
          type: 'gcs',
          path: REPO_PATH,
          bucket: wb,
          region: c.warm.region,
          encrypted: true,
          cipherPassRef: 'k8s:labdojo/labdojo-pgbackrest-conf',
          site: 'warm',
        },
        {
          index: 2,
          type: 'gcs',
          path: REPO_PATH,
          bucket: cb,
          region: c.cold.region,
          encrypted: true,
          cipherPassRef: 'pulumi:prod/repoCipherPass',
          site: 'cold',
        },
      ],
    },
    buckets: [
      {
        name: wb,
        provider: 'gcp',
        region: c.warm.region,
        purpose: 'backup',
        versioning: true,
        objectLockDays: fullBackupLockDays(p),
      },
      {
        name: cb,
        provider: 'gcp',
        region: c.cold.region,
        purpose: 'offsite',
        versioning: true,
        objectLockDays: offsiteRetentionDays(p),
      },
    ],
    keys: [
      { id: wk, provider: 'gcp', purpose: 'warm backup', rotationDays: 90 },
      { id: ck, provider: 'gcp', purpose: 'cold backup', rotationDays: 90 },
    ],
    endpoint: {
      kind: 'clouddns',
      host: `db-dr.${c.warm.region}.labdojo.com`,
      port: 5432,
      database: 'labdojo',
      zoneId: 'labdojo-dr',
      recordName: 'db.labdojo.com.',
    },
    healthChecks: [{ site: 'warm', url: `postgresql://${c.warm.endpoint}:5432/labdojo` }],
  }
}
