/**
 * Pulumi's mock runtime for the offline plan and the tests (the Pulumi CLI cannot run here).
 * `newResource` records every resource and returns realistic computed fields; `call` answers
 * only the data sources the programs use and throws for anything else, so nothing passes by
 * silence. Install BEFORE the program module is imported.
 */
import * as pulumi from '@pulumi/pulumi'
import { PROJECT, type ConfigMap } from '../core/project-config.ts'
import { stackConfig } from '../config/project-files.ts'

export interface Recorded {
  type: string
  name: string
  inputs: Record<string, any>
  id: string
  state: Record<string, any>
  /** the component that created it (by URN) */
  parent?: string
}

const ACCOUNT = '123456789012'

/** What a real provider would compute, per resource type. */
function computed(
  type: string,
  name: string,
  inputs: Record<string, any>,
  stackOutputs: Record<string, unknown>,
  randomPassword: (length: number) => string = (n) => 'x'.repeat(n),
): { id: string; state: Record<string, any> } {
  const region = inputs.region ?? 'us-east-1'
  switch (type) {
    case 'aws:s3/bucket:Bucket': {
      const bucket = inputs.bucket ?? `${inputs.bucketPrefix ?? name}abc123`
      return {
        id: bucket,
        state: { bucket, arn: `arn:aws:s3:::${bucket}`, region, bucketDomainName: `${bucket}.s3.amazonaws.com` },
      }
    }
    case 'aws:kms/key:Key': {
      const keyId = `mrk-${name.replace(/[^a-z0-9]/g, '')}`
      return { id: keyId, state: { keyId, arn: `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}` } }
    }
    case 'aws:iam/role:Role':
      return { id: name, state: { name, arn: `arn:aws:iam::${ACCOUNT}:role/${name}`, uniqueId: `AROA${name.length}` } }
    case 'aws:sns/topic:Topic':
      return {
        id: `arn:aws:sns:${region}:${ACCOUNT}:${name}`,
        state: { arn: `arn:aws:sns:${region}:${ACCOUNT}:${name}`, name },
      }
    case 'aws:cloudwatch/metricAlarm:MetricAlarm': {
      const alarm = inputs.name ?? `${name}-a1b2c3`
      return { id: alarm, state: { name: alarm, arn: `arn:aws:cloudwatch:${region}:${ACCOUNT}:alarm:${alarm}` } }
    }
    case 'aws:route53/healthCheck:HealthCheck':
      return { id: `hc-${name}`, state: { arn: `arn:aws:route53:::healthcheck/hc-${name}` } }
    case 'tls:index/privateKey:PrivateKey':
      return { id: name, state: { privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${name}\n-----END PRIVATE KEY-----\n` } }
    case 'tls:index/selfSignedCert:SelfSignedCert':
    case 'tls:index/locallySignedCert:LocallySignedCert':
      return { id: name, state: { certPem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n` } }
    case 'tls:index/certRequest:CertRequest':
      return {
        id: name,
        state: { certRequestPem: `-----BEGIN CERTIFICATE REQUEST-----\n${name}\n-----END CERTIFICATE REQUEST-----\n` },
      }
    case 'random:index/randomPassword:RandomPassword':
      return { id: name, state: { result: randomPassword(inputs.length ?? 32) } }
    case 'pulumi:pulumi:StackReference':
      return { id: inputs.name, state: { outputs: stackOutputs } }
    default:
      return gcpComputed(type, inputs) ?? { id: `${name}-id`, state: {} }
  }
}

/** The GCP resources' computed attributes, as the provider documents them. */
function gcpComputed(
  type: string,
  inputs: Record<string, any>,
): { id: string; state: Record<string, any> } | undefined {
  switch (type) {
    case 'gcp:kms/keyRing:KeyRing':
      return { id: `projects/labdojo-dr/locations/${inputs.location}/keyRings/${inputs.name}`, state: {} }
    case 'gcp:kms/cryptoKey:CryptoKey':
      return { id: `${inputs.keyRing}/cryptoKeys/${inputs.name}`, state: {} }
    case 'gcp:serviceaccount/account:Account': {
      // the provider's documented attributes (serviceaccount/account: email, name, member)
      const email = `${inputs.accountId}@${inputs.project}.iam.gserviceaccount.com`
      const id = `projects/${inputs.project}/serviceAccounts/${email}`
      return { id, state: { email, name: id, member: `serviceAccount:${email}` } }
    }
    case 'gcp:storage/bucket:Bucket':
      return {
        id: inputs.name,
        state: { url: `gs://${inputs.name}`, selfLink: `https://www.googleapis.com/storage/v1/b/${inputs.name}` },
      }
    default:
      return undefined
  }
}

/** Only the data sources the programs use; anything else fails loudly. */
export function mockCall(args: { token: string; inputs: Record<string, any> }): Record<string, any> {
  switch (args.token) {
    case 'aws:index/getCallerIdentity:getCallerIdentity':
      return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/pulumi`, userId: 'AIDAPULUMI', id: ACCOUNT }
    case 'gcp:storage/getTransferProjectServiceAccount:getTransferProjectServiceAccount':
      return {
        email: 'project-1234@storage-transfer-service.iam.gserviceaccount.com',
        member: 'serviceAccount:project-1234@storage-transfer-service.iam.gserviceaccount.com',
        subjectId: '112233445566778899001',
        project: args.inputs.project,
        id: 'sts',
      }
    case 'gcp:storage/getProjectServiceAccount:getProjectServiceAccount':
      return {
        emailAddress: `service-1234@gs-project-accounts.iam.gserviceaccount.com`,
        project: args.inputs.project,
        id: 'sa',
      }
    default:
      throw new Error(`unmocked provider call ${args.token}: add it to infra/mocks.ts deliberately`)
  }
}

export interface MockOptions {
  stack: string
  /** the stack's config; default: Pulumi.yaml + Pulumi.<stack>.yaml */
  config?: ConfigMap
  root?: string
  /** outputs of referenced stacks */
  stackOutputs?: Record<string, unknown>
  /** what a RandomPassword's result is (default: a fixed string; the twin asks for real randomness) */
  randomPassword?: (length: number) => string
}

export function installMocks(o: MockOptions): Recorded[] {
  const recorded: Recorded[] = []
  const config = o.config ?? stackConfig(o.root ?? new URL('..', import.meta.url).pathname, o.stack)
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
  )
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        const { id, state } = computed(args.type, args.name, args.inputs, o.stackOutputs ?? {}, o.randomPassword)
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs, id, state })
        return { id, state: { ...args.inputs, ...state } }
      },
      call: mockCall,
    },
    PROJECT,
    o.stack,
    false,
  )
  return recorded
}

/** Outputs prod exports that dr reads through its StackReference. */
export const PROD_OUTPUTS_FOR_DR = {
  replicaBucket: 'labdojo-backups-replica-abc123',
  replicaRegion: 'us-west-2',
  transferReaderRoleArn: `arn:aws:iam::${ACCOUNT}:role/backup-access-reader`,
  repoCipherPass: 'mock-cipher-pass-from-prod',
  userPasswords: { labdojo: 'mock-app-pass', 'labdojo-dr': 'mock-dr-pass', 'labdojo-monitor': 'mock-monitor-pass' },
}

/** Resolve an Output in tests and the plan. */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)))
}
