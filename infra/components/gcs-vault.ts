/**
 * labdojo:dr:GcsVault - GCS backup storage: versioning, soft delete, CMEK, lifecycle to ARCHIVE,
 * uniform access, public access prevented.
 *
 * No bucket retention policy: GCS refuses one on a bucket with Object Versioning ("Object
 * versioning cannot be enabled on a bucket with a retention policy"), and a retention policy
 * forbids replacing an object before it expires, while pgBackRest rewrites backup.info,
 * archive.info and their copies after every backup and expire. The protection comes from
 * versioning instead: a replaced or deleted object stays as a noncurrent version for the tier's
 * retention (`keepVersionsDays`), soft delete keeps even a deleted version recoverable for
 * `softDeleteDays`, and no identity of ours may delete a version.
 */
import * as pulumi from '@pulumi/pulumi'
import * as gcp from '@pulumi/gcp'
import { drLabels } from './tags.ts'

export interface GcsVaultArgs {
  site: string
  location: string
  project: string
  kmsKeyId: pulumi.Input<string>
  /** soft delete: a deleted object (or version) stays recoverable this long (GCS allows 7..90 days) */
  softDeleteDays: number
  /** noncurrent versions are kept this long (the tier's retention) */
  keepVersionsDays: number
  archiveAfterDays: number
  tier: 1 | 2 | 3
}

export class GcsVault extends pulumi.ComponentResource {
  readonly bucket: gcp.storage.Bucket
  readonly name: pulumi.Output<string>
  constructor(name: string, args: GcsVaultArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:GcsVault', name, {}, opts)
    if (args.softDeleteDays < 7 || args.softDeleteDays > 90)
      throw new Error(`GcsVault ${name}: softDeleteDays ${args.softDeleteDays} is outside GCS's 7..90`)
    if (args.archiveAfterDays < 30)
      throw new Error(
        `GcsVault ${name}: archiveAfterDays ${args.archiveAfterDays} is below ARCHIVE's useful minimum (30)`,
      )
    // the GCS service agent must be able to use the key before the bucket can
    const agent = gcp.storage.getProjectServiceAccountOutput({ project: args.project }, { parent: this })
    const grant = new gcp.kms.CryptoKeyIAMMember(
      `${name}-cmek`,
      {
        cryptoKeyId: args.kmsKeyId,
        role: 'roles/cloudkms.cryptoKeyEncrypterDecrypter',
        member: pulumi.interpolate`serviceAccount:${agent.emailAddress}`,
      },
      { parent: this },
    )
    this.bucket = new gcp.storage.Bucket(
      name,
      {
        name: `${name}-${args.project}`,
        project: args.project,
        location: args.location.toUpperCase(),
        storageClass: 'STANDARD',
        versioning: { enabled: true },
        softDeletePolicy: { retentionDurationSeconds: args.softDeleteDays * 86400 },
        encryption: { defaultKmsKeyName: args.kmsKeyId },
        uniformBucketLevelAccess: true,
        publicAccessPrevention: 'enforced',
        forceDestroy: false,
        lifecycleRules: [
          {
            action: { type: 'SetStorageClass', storageClass: 'ARCHIVE' },
            condition: { age: args.archiveAfterDays, matchesStorageClasses: ['STANDARD'] },
          },
          {
            action: { type: 'Delete' },
            condition: { daysSinceNoncurrentTime: args.keepVersionsDays, withState: 'ARCHIVED' },
          },
        ],
        labels: { ...drLabels(args.site, 'backup'), tier: String(args.tier) },
      },
      { parent: this, dependsOn: [grant], protect: true },
    )
    this.name = this.bucket.name
    this.registerOutputs({ name: this.name })
  }
}
