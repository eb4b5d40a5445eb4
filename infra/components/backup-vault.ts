/**
 * labdojo:dr:BackupVault - the S3 backup storage of the guide: versioning, object lock in
 * compliance mode aligned with pgBackRest's retention (so expiry never fights the lock),
 * SSE-KMS with a customer key, lifecycle to Glacier for noncurrent versions only (pgBackRest
 * cannot read a Glacier object, so nothing it may read moves), no public access, TLS only,
 * and cross-region replication of tier-1 data to a replica vault in another region.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import { drTags } from './tags.ts'

export interface BackupVaultArgs {
  site: string
  region: string
  kmsKeyArn: pulumi.Input<string>
  /** compliance-mode object lock, in days: at most as long as pgBackRest keeps what it wrote */
  lockDays: number
  /** move versions pgBackRest no longer uses (expired, replaced) to Glacier after this many days */
  glacierAfterDays: number
  /** how long a version stays recoverable after pgBackRest expired it (tier retention) */
  keepVersionsDays: number
  tier: 1 | 2 | 3
  /** logical exports (exports/, written by the export CronJobs, which delete nothing) expire after this */
  exportRetentionDays?: number
  /** replicate everything to this vault (tier-1: another region) */
  replicateTo?: { bucketArn: pulumi.Input<string>; region: string; kmsKeyArn: pulumi.Input<string> }
}

export function validateVaultArgs(a: BackupVaultArgs): string[] {
  const out: string[] = []
  if (a.lockDays < 1) out.push(`lockDays ${a.lockDays}: compliance lock needs at least 1 day`)
  if (a.lockDays > a.keepVersionsDays)
    out.push(
      `lockDays ${a.lockDays} exceeds keepVersionsDays ${a.keepVersionsDays}: expired versions would outlive their lifecycle`,
    )
  if (a.glacierAfterDays < 30)
    out.push(`glacierAfterDays ${a.glacierAfterDays}: Glacier has a 90-day minimum charge; use at least 30`)
  return out
}

export class BackupVault extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket
  readonly name: pulumi.Output<string>
  readonly arn: pulumi.Output<string>

  constructor(name: string, args: BackupVaultArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:BackupVault', name, {}, opts)
    const problems = validateVaultArgs(args)
    if (problems.length) throw new Error(`BackupVault ${name}: ${problems.join('; ')}`)
    const tags = drTags(args.site, 'backup', { tier: String(args.tier) })
    this.bucket = new aws.s3.Bucket(
      `${name}`,
      { region: args.region, bucketPrefix: `${name}-`, objectLockEnabled: true, forceDestroy: false, tags },
      { parent: this, protect: true },
    )
    const versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { region: args.region, bucket: this.bucket.id, versioningConfiguration: { status: 'Enabled' } },
      { parent: this },
    )
    this.lock(name, args, versioning)
    this.encrypt(name, args)
    this.denyPublicAndInsecure(name, args)
    this.lifecycle(name, args, versioning)
    if (args.replicateTo) this.replicate(name, args, args.replicateTo, versioning, tags)
    this.name = this.bucket.bucket
    this.arn = this.bucket.arn
    this.registerOutputs({ name: this.name, arn: this.arn })
  }

  /** Compliance-mode object lock: nobody, root included, deletes a locked version early. */
  private lock(name: string, args: BackupVaultArgs, versioning: aws.s3.BucketVersioning): void {
    const { region } = args
    const bucket = this.bucket.id
    new aws.s3.BucketObjectLockConfiguration(
      `${name}-lock`,
      {
        region,
        bucket,
        objectLockEnabled: 'Enabled',
        rule: { defaultRetention: { mode: 'COMPLIANCE', days: args.lockDays } },
      },
      { parent: this, dependsOn: [versioning] },
    )
  }

  /** SSE-KMS with the customer key, bucket keys on. */
  private encrypt(name: string, args: BackupVaultArgs): void {
    const { region } = args
    const bucket = this.bucket.id
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-sse`,
      {
        region,
        bucket,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: args.kmsKeyArn },
            bucketKeyEnabled: true,
          },
        ],
      },
      { parent: this },
    )
  }

  /** No public access, the bucket owner owns every object, and TLS 1.2+ only. */
  private denyPublicAndInsecure(name: string, args: BackupVaultArgs): void {
    const { region } = args
    const bucket = this.bucket.id
    new aws.s3.BucketPublicAccessBlock(
      `${name}-no-public`,
      {
        region,
        bucket,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      { parent: this },
    )
    new aws.s3.BucketOwnershipControls(
      `${name}-owner`,
      { region, bucket, rule: { objectOwnership: 'BucketOwnerEnforced' } },
      { parent: this },
    )
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      {
        region,
        bucket,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
            {
              Sid: 'DenyOldTls',
              Effect: 'Deny',
              Principal: '*',
              Action: 's3:*',
              Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
              Condition: { NumericLessThan: { 's3:TlsVersion': '1.2' } },
            },
          ],
        }),
      },
      { parent: this },
    )
  }

  /** Data to Glacier (never the catalog files), exports expired, expired versions kept for the tier's retention. */
  private lifecycle(name: string, args: BackupVaultArgs, versioning: aws.s3.BucketVersioning): void {
    const { region } = args
    const bucket = this.bucket.id
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        region,
        bucket,
        rules: [
          // pgBackRest cannot read a Glacier object (GET: 403 InvalidObjectState), so no live
          // object moves: only the versions pgBackRest expired or replaced, kept for the lock
          {
            id: 'history-to-glacier',
            status: 'Enabled',
            filter: { prefix: '' },
            noncurrentVersionTransitions: [{ noncurrentDays: args.glacierAfterDays, storageClass: 'GLACIER' }],
          },
          ...(args.exportRetentionDays
            ? [
                {
                  id: 'exports-expire',
                  status: 'Enabled',
                  filter: { prefix: 'exports/' },
                  expiration: { days: args.exportRetentionDays },
                },
              ]
            : []),
          {
            id: 'expired-versions',
            status: 'Enabled',
            filter: { prefix: '' },
            noncurrentVersionExpiration: { noncurrentDays: args.keepVersionsDays },
            expiration: { expiredObjectDeleteMarker: true },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      { parent: this, dependsOn: [versioning] },
    )
  }

  /** Cross-region replication of every object, never of deletes. */
  private replicate(
    name: string,
    args: BackupVaultArgs,
    replicateTo: NonNullable<BackupVaultArgs['replicateTo']>,
    versioning: aws.s3.BucketVersioning,
    tags: Record<string, string>,
  ): void {
    const { region } = args
    const bucket = this.bucket.id
    const role = new aws.iam.Role(
      `${name}-replication`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 's3.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
        tags,
      },
      { parent: this },
    )
    new aws.iam.RolePolicy(
      `${name}-replication`,
      {
        role: role.id,
        policy: replicationPolicy(this.bucket.arn, args.kmsKeyArn, replicateTo),
      },
      { parent: this },
    )
    new aws.s3.BucketReplicationConfig(
      `${name}-replication`,
      {
        region,
        bucket,
        role: role.arn,
        rules: [
          {
            id: 'tier1-cross-region',
            status: 'Enabled',
            filter: { prefix: '' },
            // pgBackRest expiry in the source must not delete the offsite copy
            deleteMarkerReplication: { status: 'Disabled' },
            sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: 'Enabled' } },
            destination: {
              bucket: replicateTo.bucketArn,
              storageClass: 'STANDARD',
              encryptionConfiguration: { replicaKmsKeyId: replicateTo.kmsKeyArn },
              replicationTime: { status: 'Enabled', time: { minutes: 15 } },
              metrics: { status: 'Enabled', eventThreshold: { minutes: 15 } },
            },
          },
        ],
      },
      { parent: this, dependsOn: [versioning] },
    )
  }
}

/** What S3's replication role may do: read the source's versions, write replicas, use both keys. */
function replicationPolicy(
  sourceArn: pulumi.Output<string>,
  kmsKeyArn: pulumi.Input<string>,
  replicateTo: NonNullable<BackupVaultArgs['replicateTo']>,
): pulumi.Output<string> {
  return pulumi.jsonStringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        Resource: sourceArn,
      },
      {
        Effect: 'Allow',
        Action: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        Resource: pulumi.interpolate`${sourceArn}/*`,
      },
      {
        Effect: 'Allow',
        Action: ['s3:ReplicateObject', 's3:ReplicateTags', 's3:ObjectOwnerOverrideToBucketOwner'],
        Resource: pulumi.interpolate`${replicateTo.bucketArn}/*`,
      },
      { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: kmsKeyArn },
      { Effect: 'Allow', Action: ['kms:Encrypt', 'kms:GenerateDataKey'], Resource: replicateTo.kmsKeyArn },
    ],
  })
}
