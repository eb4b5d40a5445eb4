/** Every policy of the pack, against a compliant and a non-compliant resource. */
import { describe, expect, it } from 'vitest'
import { violations, type Fake } from '../helpers/infra.ts'

const r = (type: string, name: string, props: Record<string, any>): Fake => ({ type, name, urn: `urn:${name}`, props })
const bucket = (name: string, region: string, over: Record<string, any> = {}) =>
  r('aws:s3/bucket:Bucket', name, {
    bucket: name,
    arn: `arn:aws:s3:::${name}`,
    region,
    objectLockEnabled: true,
    tags: { purpose: 'backup', tier: '1' },
    ...over,
  })
const children = (name: string, over: { lockDays?: number; keep?: number; pab?: boolean } = {}) => [
  r('aws:s3/bucketVersioning:BucketVersioning', `${name}-v`, {
    bucket: name,
    versioningConfiguration: { status: 'Enabled' },
  }),
  r('aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration', `${name}-l`, {
    bucket: name,
    rule: { defaultRetention: { mode: 'COMPLIANCE', days: over.lockDays ?? 28 } },
  }),
  r('aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock', `${name}-p`, {
    bucket: name,
    blockPublicAcls: true,
    blockPublicPolicy: true,
    ignorePublicAcls: true,
    restrictPublicBuckets: over.pab ?? true,
  }),
  r('aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration', `${name}-sse`, {
    bucket: name,
    rules: [
      { applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms', kmsMasterKeyId: `arn:aws:kms:k/${name}` } },
    ],
  }),
  r('aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', `${name}-lc`, {
    bucket: name,
    rules: [{ id: 'v', status: 'Enabled', noncurrentVersionExpiration: { noncurrentDays: over.keep ?? 365 } }],
  }),
]
const replication = (from: string, to: string) =>
  r('aws:s3/bucketReplicationConfig:BucketReplicationConfig', `${from}-r`, {
    bucket: from,
    rules: [{ status: 'Enabled', destination: { bucket: `arn:aws:s3:::${to}` } }],
  })
const compliantStack = () => [
  bucket('src', 'us-east-1'),
  ...children('src'),
  bucket('dst', 'us-west-2'),
  ...children('dst'),
  replication('src', 'dst'),
]

/** The same stack as `pulumi preview` sees it: new buckets' names unknown, the links in the dependency graph. */
const atPreview = (stack: Fake[]): Fake[] =>
  stack.map((x) => {
    const props = { ...x.props }
    if (x.type === 'aws:s3/bucket:Bucket') delete props.bucket
    else if (props.bucket !== undefined) {
      const owner = stack.find((b) => b.type === 'aws:s3/bucket:Bucket' && b.props.bucket === props.bucket)!
      delete props.bucket
      const dest = (props.rules ?? []).map((rule: any) => rule.destination?.bucket).filter(Boolean)
      const destUrns = stack.filter((b) => dest.includes(b.props.arn)).map((b) => b.urn)
      if (dest.length) props.rules = props.rules.map((rule: any) => ({ ...rule, destination: {} }))
      return { ...x, props, deps: { bucket: [owner.urn], ...(destUrns.length ? { rules: destUrns } : {}) } }
    }
    return { ...x, props }
  })

describe('the policy pack', () => {
  it('at preview (bucket names unknown) judges by the dependency graph: a compliant stack passes, a bare bucket fails', async () => {
    expect(await violations(atPreview(compliantStack()))).toEqual([])
    const bare = atPreview(compliantStack()).filter(
      (x) => !(x.deps?.bucket?.includes('urn:src') && /Versioning|Encryption/.test(x.type)),
    )
    const v = (await violations(bare)).join('\n')
    expect(v).toMatch(/src: versioning is not enabled/)
    expect(v).toMatch(/src: backup bucket without a server-side encryption configuration/)
  })

  it('passes a compliant stack', async () => {
    expect(await violations(compliantStack())).toEqual([])
  })

  it.each([
    [
      'customer-managed-encryption',
      [
        r('aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration', 'sse', {
          bucket: 'src',
          rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
        }),
      ],
      /SSE must be aws:kms/,
    ],
    [
      'customer-managed-encryption (GCS)',
      [
        r('gcp:storage/bucket:Bucket', 'g', {
          versioning: { enabled: true },
          softDeletePolicy: { retentionDurationSeconds: 7776000 },
          publicAccessPrevention: 'enforced',
        }),
      ],
      /without CMEK/,
    ],
    [
      'customer-managed-encryption (SNS)',
      [r('aws:sns/topic:Topic', 't', { kmsMasterKeyId: 'alias/aws/sns' })],
      /SNS topic not encrypted/,
    ],
    ['key-rotation', [r('aws:kms/key:Key', 'k', { enableKeyRotation: false })], /rotation is off/],
    [
      'key-rotation (yearly)',
      [r('aws:kms/key:Key', 'k', { enableKeyRotation: true, rotationPeriodInDays: 365 })],
      /every 365 days/,
    ],
    [
      // defect 5: the writer pgBackRest ran as could not delete, so every backup's expire got 403
      'pgbackrest-role-can-run',
      [
        r('aws:iam/rolePolicy:RolePolicy', 'w', {
          policy: JSON.stringify({
            Statement: [
              { Sid: 'PgBackRestRepo', Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject', 's3:ListBucket'] },
              { Sid: 'Keys', Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'] },
              { Sid: 'NeverDestroyBackups', Effect: 'Deny', Action: ['s3:DeleteObjectVersion'] },
            ],
          }),
        }),
      ],
      /pgBackRest's role is not granted s3:DeleteObject/,
    ],
    [
      'key-rotation (GCP)',
      [r('gcp:kms/cryptoKey:CryptoKey', 'g', { rotationPeriod: '31536000s' })],
      /longer than a quarter/,
    ],
  ])('%s rejects a non-compliant resource', async (_, extra, msg) => {
    const v = await violations([...compliantStack(), ...(extra as Fake[])])
    expect(v.join('\n')).toMatch(msg)
  })

  it('backup-buckets-versioned-and-locked rejects a backup bucket created without object lock', async () => {
    const s = compliantStack().map((x) =>
      x.name === 'src' ? { ...x, props: { ...x.props, objectLockEnabled: false } } : x,
    )
    expect((await violations(s)).join()).toMatch(/src: backup bucket created without object lock/)
  })

  it('backup-buckets-versioned-and-locked rejects a bucket without lock or versioning', async () => {
    const s = compliantStack().filter((x) => x.name !== 'src-v' && x.name !== 'src-l')
    const v = await violations(s)
    expect(v).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/src: versioning is not enabled/),
        expect.stringMatching(/src: no compliance-mode object lock/),
      ]),
    )
  })

  it('tier1-cross-region-replication rejects a tier-1 bucket not replicated, or replicated within its region', async () => {
    expect((await violations(compliantStack().filter((x) => x.name !== 'src-r'))).join()).toMatch(
      /src: tier-1 backups are not replicated/,
    )
    const same = [
      bucket('src', 'us-east-1'),
      ...children('src'),
      bucket('dst', 'us-east-1'),
      ...children('dst'),
      replication('src', 'dst'),
    ]
    expect((await violations(same)).join()).toMatch(/not another region than us-east-1/)
  })

  it('no-public-buckets rejects a missing block, a public ACL, an Allow-to-everyone policy and an open GCS bucket', async () => {
    const s = [
      ...compliantStack().map((x) =>
        x.name === 'dst-p' ? { ...x, props: { ...x.props, restrictPublicBuckets: false } } : x,
      ),
      r('aws:s3/bucketPolicy:BucketPolicy', 'open', {
        policy: JSON.stringify({
          Statement: [{ Sid: 'Everyone', Effect: 'Allow', Principal: '*', Action: 's3:GetObject' }],
        }),
      }),
      r('gcp:storage/bucket:Bucket', 'g', {
        encryption: { defaultKmsKeyName: 'k' },
        publicAccessPrevention: 'inherited',
      }),
    ]
    const v = (await violations(s)).join('\n')
    expect(v).toMatch(/dst: public access is not fully blocked/)
    expect(v).toMatch(/open: bucket policy allows everyone/)
    expect(v).toMatch(/g: GCS publicAccessPrevention is not enforced/)
  })

  it('retention-at-least-tier rejects versions kept shorter than the tier, and a lock longer than the lifecycle', async () => {
    const short = [
      bucket('src', 'us-east-1'),
      ...children('src', { keep: 20 }),
      bucket('dst', 'us-west-2'),
      ...children('dst'),
      replication('src', 'dst'),
    ]
    const v = (await violations(short)).join('\n')
    expect(v).toMatch(/src: expired versions are kept 20 days; tier 1 needs 365/)
    expect(v).toMatch(/src: object lock \(28 days\) outlasts the lifecycle \(20 days\)/)
    // expiring current objects on a versioned bucket keeps the data as noncurrent versions: 30 + 365 days is enough, 30 alone is not
    const expiring = (versioned: boolean) =>
      compliantStack()
        .filter((x) => versioned || x.name !== 'src-v')
        .map((x) =>
          x.name === 'src-lc'
            ? {
                ...x,
                props: {
                  ...x.props,
                  rules: [
                    ...x.props.rules,
                    {
                      id: 'exports-expire',
                      status: 'Enabled',
                      filter: { prefix: 'exports/' },
                      expiration: { days: 30 },
                    },
                  ],
                },
              }
            : x,
        )
    expect((await violations(expiring(true))).join()).not.toMatch(/exports-expire/)
    expect((await violations(expiring(false))).join()).toMatch(
      /src: rule exports-expire expires objects after 30 days \(unversioned: gone at once\); tier 1 needs 365/,
    )
    const gcs = r('gcp:storage/bucket:Bucket', 'g', {
      labels: { purpose: 'backup', tier: '2' },
      encryption: { defaultKmsKeyName: 'k' },
      publicAccessPrevention: 'enforced',
      versioning: { enabled: true },
      softDeletePolicy: { retentionDurationSeconds: 7776000 },
      lifecycleRules: [{ action: { type: 'Delete' }, condition: { age: 30 } }],
    })
    expect((await violations([...compliantStack(), gcs])).join()).toMatch(
      /g: deletes objects at age 30 days; tier 2 needs 180/,
    )
  })

  it('backup-buckets-versioned-and-locked refuses a GCS retention policy beside versioning (GCS rejects the pair; defect 1)', async () => {
    const gcs = r('gcp:storage/bucket:Bucket', 'g', {
      labels: { purpose: 'backup', tier: '1' },
      encryption: { defaultKmsKeyName: 'k' },
      publicAccessPrevention: 'enforced',
      versioning: { enabled: true },
      retentionPolicy: { retentionPeriod: '1800' },
      lifecycleRules: [],
    })
    const v = (await violations([...compliantStack(), gcs])).join('\n')
    expect(v).toMatch(/g: a GCS retention policy cannot stand beside versioning/)
    expect(v).toMatch(/g: GCS soft delete is off/)
  })
})

describe('the pack loads as Pulumi loads it', () => {
  it('has a PulumiPolicy.yaml (nodejs runtime) and an entry whose PolicyPack holds every rule', async () => {
    const { readFileSync } = await import('node:fs')
    const { parse } = await import('yaml')
    const dir = new URL('../../infra/policy/', import.meta.url)
    const spec = parse(readFileSync(new URL('PulumiPolicy.yaml', dir), 'utf8'))
    expect(spec.runtime.name).toBe('nodejs')
    const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8'))
    expect(readFileSync(new URL(pkg.main, dir), 'utf8')).toMatch(
      /new PolicyPack\('labdojo-dr-guide', \{ policies: ALL_POLICIES \}\)/,
    )
    const { ALL_POLICIES } = await import('../../infra/policy/rules.ts')
    expect(ALL_POLICIES.map((p) => p.name)).toContain('pgbackrest-role-can-run')
    expect(ALL_POLICIES.every((p) => p.enforcementLevel === 'mandatory')).toBe(true)
  })
})
