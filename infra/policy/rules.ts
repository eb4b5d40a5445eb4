/**
 * The policy pack's rules, enforcing the guide on any program of this project: customer-managed
 * encryption everywhere, versioned and locked backup buckets, key rotation, cross-region
 * replication of tier-1 backups, no public buckets, retention at least the tier's.
 * Kept apart from the PolicyPack entry (which starts a gRPC server at import) so tests can
 * call them with fake resources.
 */
import type {
  ResourceValidationPolicy,
  StackValidationPolicy,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
} from '@pulumi/policy'
import { loadPolicy } from '../../config/project-files.ts'
import type { DrPolicy } from '../../core/policy.ts'

const T = {
  bucket: 'aws:s3/bucket:Bucket',
  versioning: 'aws:s3/bucketVersioning:BucketVersioning',
  lock: 'aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration',
  sse: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  pab: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  bucketPolicy: 'aws:s3/bucketPolicy:BucketPolicy',
  lifecycle: 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration',
  replication: 'aws:s3/bucketReplicationConfig:BucketReplicationConfig',
  kms: 'aws:kms/key:Key',
  topic: 'aws:sns/topic:Topic',
  gcs: 'gcp:storage/bucket:Bucket',
  gkey: 'gcp:kms/cryptoKey:CryptoKey',
} as const

export const QUARTER_DAYS = 92

const ROOT = new URL('../../', import.meta.url).pathname
let cached: DrPolicy | undefined
const drPolicy = () => (cached ??= loadPolicy(ROOT, 'local'))

const isBackup = (r: { props: Record<string, any> }) => (r.props.tags?.purpose ?? r.props.labels?.purpose) === 'backup'
const tierOf = (r: { props: Record<string, any> }): 1 | 2 | 3 | undefined => {
  const t = Number(r.props.tags?.tier ?? r.props.labels?.tier)
  return t === 1 || t === 2 || t === 3 ? t : undefined
}
/**
 * The resources of a type that configure a bucket. At `pulumi preview` a new bucket's name is
 * unknown, so its children's props.bucket is too: the link is taken from the dependency graph
 * (propertyDependencies.bucket names the bucket resource), which preview knows, and from the
 * name when it is known. A rule that matched by name alone reported every new bucket as bare.
 */
const childOf = (rs: PolicyResource[], type: string, bucket: PolicyResource) =>
  rs.filter(
    (r) =>
      r.type === type &&
      ((r.propertyDependencies?.bucket ?? []).some((d) => d.urn === bucket.urn) ||
        (r.props.bucket !== undefined && r.props.bucket === bucket.props.bucket)),
  )
const bucketName = (b: PolicyResource) => b.props.bucket as string
const bucketArnName = (arn: string) => arn.replace(/^arn:aws:s3:::/, '')

export const customerManagedEncryption: ResourceValidationPolicy = {
  name: 'customer-managed-encryption',
  description:
    'Backups, keys and alerts are encrypted with customer-managed keys (guide: AES-256 at rest, keys in an HSM).',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    const p = args.props
    if (args.type === T.sse) {
      for (const rule of p.rules ?? []) {
        const d = rule.applyServerSideEncryptionByDefault ?? {}
        if (d.sseAlgorithm !== 'aws:kms' || !d.kmsMasterKeyId || String(d.kmsMasterKeyId).includes('alias/aws/'))
          report(
            `${args.name}: SSE must be aws:kms with a customer-managed key, found ${d.sseAlgorithm ?? 'none'} ${d.kmsMasterKeyId ?? ''}`.trim(),
          )
      }
    }
    if (args.type === T.gcs && !p.encryption?.defaultKmsKeyName)
      report(`${args.name}: GCS bucket without CMEK (encryption.defaultKmsKeyName)`)
    if (args.type === T.topic && (!p.kmsMasterKeyId || String(p.kmsMasterKeyId).includes('alias/aws/')))
      report(`${args.name}: SNS topic not encrypted with a customer-managed key`)
  },
}

export const keyRotation: ResourceValidationPolicy = {
  name: 'key-rotation',
  description: 'Encryption keys rotate at least quarterly (guide: key rotation quarterly).',
  enforcementLevel: 'mandatory',
  validateResource: (args, report) => {
    if (args.type === T.kms) {
      if (args.props.enableKeyRotation !== true) report(`${args.name}: KMS key rotation is off`)
      else if ((args.props.rotationPeriodInDays ?? 365) > QUARTER_DAYS)
        report(`${args.name}: rotates every ${args.props.rotationPeriodInDays ?? 365} days, more than a quarter`)
    }
    if (args.type === T.gkey) {
      const s = Number(String(args.props.rotationPeriod ?? '').replace(/s$/, ''))
      if (!s || s > QUARTER_DAYS * 86400)
        report(
          `${args.name}: Cloud KMS rotationPeriod ${args.props.rotationPeriod ?? 'unset'} is longer than a quarter`,
        )
    }
  },
}

export const backupBucketsVersionedAndLocked: StackValidationPolicy = {
  name: 'backup-buckets-versioned-and-locked',
  description:
    'Every backup bucket is versioned and write-once (S3: object lock in compliance mode and SSE-KMS; GCS: versioning and soft delete, no retention policy).',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    for (const b of args.resources.filter((r) => r.type === T.bucket && isBackup(r))) {
      if (b.props.objectLockEnabled !== true) report(`${b.name}: backup bucket created without object lock`, b.urn)
      if (!childOf(args.resources, T.versioning, b).some((v) => v.props.versioningConfiguration?.status === 'Enabled'))
        report(`${b.name}: versioning is not enabled`, b.urn)
      if (!childOf(args.resources, T.lock, b).some((l) => l.props.rule?.defaultRetention?.mode === 'COMPLIANCE'))
        report(`${b.name}: no compliance-mode object lock retention`, b.urn)
    }
    for (const b of args.resources.filter((r) => r.type === T.bucket && isBackup(r)))
      if (!childOf(args.resources, T.sse, b).length)
        report(`${b.name}: backup bucket without a server-side encryption configuration (SSE-KMS)`, b.urn)
    for (const b of args.resources.filter((r) => r.type === T.gcs && isBackup(r))) {
      if (b.props.versioning?.enabled !== true) report(`${b.name}: GCS versioning is off`, b.urn)
      // GCS refuses a retention policy beside versioning, and pgBackRest must replace its catalog files
      if (b.props.retentionPolicy)
        report(
          `${b.name}: a GCS retention policy cannot stand beside versioning, and would stop pgBackRest rewriting backup.info; keep history with versioning and soft delete`,
          b.urn,
        )
      if (!(Number(b.props.softDeletePolicy?.retentionDurationSeconds) >= 7 * 86400))
        report(`${b.name}: GCS soft delete is off or under 7 days`, b.urn)
    }
  },
}

export const tier1CrossRegionReplication: StackValidationPolicy = {
  name: 'tier1-cross-region-replication',
  description: 'Tier-1 backups are copied to another region (guide: cross-region replication, 3-2-1).',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    const buckets = args.resources.filter((r) => r.type === T.bucket && isBackup(r) && tierOf(r) === 1)
    const replications = args.resources.filter((r) => r.type === T.replication)
    // the destination bucket: from the dependency graph (known at preview), else by its ARN
    const destinationsOf = (rep: PolicyResource): PolicyResource[] => {
      const byDep = (rep.propertyDependencies?.rules ?? []).filter((d) => d.type === T.bucket)
      if (byDep.length) return byDep
      const names = (rep.props.rules ?? []).map((x: any) => bucketArnName(String(x.destination?.bucket ?? '')))
      return buckets.filter((b) => names.includes(bucketName(b)))
    }
    const copies = new Set(replications.flatMap((rep) => destinationsOf(rep).map((d) => d.urn)))
    for (const b of buckets) {
      if (copies.has(b.urn)) continue // it is the cross-region copy
      const reps = childOf(args.resources, T.replication, b).filter((rep) =>
        (rep.props.rules ?? [{ status: 'Enabled' }]).some((x: any) => x.status === 'Enabled'),
      )
      if (reps.length === 0) report(`${b.name}: tier-1 backups are not replicated to another region`, b.urn)
      for (const rep of reps)
        for (const dest of destinationsOf(rep)) {
          const region = args.resources.find((r) => r.urn === dest.urn)?.props.region ?? dest.props.region
          if (!region || region === b.props.region)
            report(
              `${b.name}: replicates to ${dest.name} in ${region ?? 'an unknown region'}, not another region than ${b.props.region}`,
              b.urn,
            )
        }
      if (reps.length && !reps.some((rep) => destinationsOf(rep).length))
        report(`${b.name}: replicates to a bucket outside this stack (its region cannot be checked)`, b.urn)
    }
  },
}

export const noPublicBuckets: StackValidationPolicy = {
  name: 'no-public-buckets',
  description: 'No bucket is public: all four S3 public-access blocks on, no Allow to *, GCS public access prevented.',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    for (const b of args.resources.filter((r) => r.type === T.bucket)) {
      const pab = childOf(args.resources, T.pab, b)[0]
      const on =
        pab &&
        ['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'].every(
          (k) => pab.props[k] === true,
        )
      if (!on) report(`${b.name}: public access is not fully blocked (BucketPublicAccessBlock)`, b.urn)
      if (['public-read', 'public-read-write', 'authenticated-read'].includes(b.props.acl))
        report(`${b.name}: public ACL ${b.props.acl}`, b.urn)
    }
    for (const pol of args.resources.filter((r) => r.type === T.bucketPolicy)) {
      const doc = typeof pol.props.policy === 'string' ? JSON.parse(pol.props.policy) : pol.props.policy
      for (const st of doc?.Statement ?? [])
        if (st.Effect === 'Allow' && (st.Principal === '*' || st.Principal?.AWS === '*'))
          report(`${pol.name}: bucket policy allows everyone (${st.Sid ?? 'statement'})`, pol.urn)
    }
    for (const b of args.resources.filter((r) => r.type === T.gcs))
      if (b.props.publicAccessPrevention !== 'enforced')
        report(`${b.name}: GCS publicAccessPrevention is not enforced`, b.urn)
  },
}

export const retentionAtLeastTier: StackValidationPolicy = {
  name: 'retention-at-least-tier',
  description:
    'Backup data stays recoverable at least as long as its tier requires (guide: tier 1 one year, tier 2 six months, tier 3 three months), and the object lock never outlasts the lifecycle.',
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    const p = drPolicy()
    for (const b of args.resources.filter((r) => (r.type === T.bucket || r.type === T.gcs) && isBackup(r))) {
      const tier = tierOf(b)
      if (!tier) {
        report(`${b.name}: backup bucket without a tier tag`, b.urn)
        continue
      }
      const need = Math.ceil(p.tiers[tier].retention / 86400)
      if (b.type === T.bucket) {
        const rules = childOf(args.resources, T.lifecycle, b)
          .flatMap((l) => l.props.rules ?? [])
          .filter((r: any) => r.status === 'Enabled')
        const keep = Math.max(0, ...rules.map((r: any) => r.noncurrentVersionExpiration?.noncurrentDays ?? 0))
        if (keep < need) report(`${b.name}: expired versions are kept ${keep} days; tier ${tier} needs ${need}`, b.urn)
        // on a versioned bucket, expiring an object leaves its data as a noncurrent version for `keep` more days
        const versioned = childOf(args.resources, T.versioning, b).some(
          (v) => v.props.versioningConfiguration?.status === 'Enabled',
        )
        for (const r of rules) {
          const days = r.expiration?.days
          if (days !== undefined && days + (versioned ? keep : 0) < need)
            report(
              `${b.name}: rule ${r.id} expires objects after ${days} days${versioned ? ` (+${keep} days as noncurrent versions)` : ' (unversioned: gone at once)'}; tier ${tier} needs ${need}`,
              b.urn,
            )
        }
        const lockDays =
          childOf(args.resources, T.lock, b).map((l) => l.props.rule?.defaultRetention?.days ?? 0)[0] ?? 0
        if (lockDays > keep)
          report(`${b.name}: object lock (${lockDays} days) outlasts the lifecycle (${keep} days)`, b.urn)
      } else {
        const rules = (b.props.lifecycleRules ?? []).filter((r: any) => r.action?.type === 'Delete')
        for (const r of rules) {
          const c = r.condition ?? {}
          if (c.age !== undefined && c.age < need)
            report(`${b.name}: deletes objects at age ${c.age} days; tier ${tier} needs ${need}`, b.urn)
          if (c.daysSinceNoncurrentTime !== undefined && c.daysSinceNoncurrentTime < need)
            report(
              `${b.name}: deletes noncurrent versions after ${c.daysSinceNoncurrentTime} days; tier ${tier} needs ${need}`,
              b.urn,
            )
        }
      }
    }
  },
}

/** What pgBackRest does to an S3 repo: list, read, write, delete (expire), and use the bucket's key. */
export const PGBACKREST_NEEDS = [
  's3:ListBucket',
  's3:GetObject',
  's3:PutObject',
  's3:DeleteObject',
  'kms:GenerateDataKey',
  'kms:Decrypt',
]

interface Statement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Action: string | string[]
}

/** The actions pgBackRest needs that a role policy document does not grant (or denies). */
export function pgbackrestActionsMissing(doc: { Statement: Statement[] }): string[] {
  const acts = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action])
  const allowed = new Set(doc.Statement.filter((s) => s.Effect === 'Allow').flatMap(acts))
  const denied = new Set(doc.Statement.filter((s) => s.Effect === 'Deny').flatMap(acts))
  const grants = (a: string) =>
    !denied.has(a) && !denied.has(`${a.split(':')[0]}:*`) && (allowed.has(a) || allowed.has(`${a.split(':')[0]}:*`))
  return PGBACKREST_NEEDS.filter((a) => !grants(a))
}

export const pgbackrestRoleCanRun: ResourceValidationPolicy = {
  name: 'pgbackrest-role-can-run',
  description:
    'The role pgBackRest runs as may list, get, put and delete in its repo (every backup runs expire) and use the key; a 403 there fails every backup.',
  enforcementLevel: 'mandatory',
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type !== 'aws:iam/rolePolicy:RolePolicy' || typeof args.props.policy !== 'string') return
    const doc = JSON.parse(args.props.policy) as { Statement: Statement[] }
    if (!doc.Statement.some((s) => s.Sid === 'PgBackRestRepo')) return
    const missing = pgbackrestActionsMissing(doc)
    if (missing.length) report(`pgBackRest's role is not granted ${missing.join(', ')}`)
  },
}

export const RESOURCE_POLICIES = [customerManagedEncryption, keyRotation, pgbackrestRoleCanRun]
export const STACK_POLICIES = [
  backupBucketsVersionedAndLocked,
  tier1CrossRegionReplication,
  noPublicBuckets,
  retentionAtLeastTier,
]
export const ALL_POLICIES = [...RESOURCE_POLICIES, ...STACK_POLICIES]
