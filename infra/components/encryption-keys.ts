/**
 * labdojo:dr:AwsKey / labdojo:dr:GcpKey - customer-managed keys per site, rotated quarterly.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import * as gcp from '@pulumi/gcp'
import { drTags, ROTATION_DAYS } from './tags.ts'

export interface AwsKeyArgs {
  site: string
  region: string
  purpose: string
  /** the account (its root administers the key, as the default policy does) */
  accountId?: pulumi.Input<string>
  /** AWS services that must encrypt with the key (e.g. CloudWatch publishing to an encrypted topic) */
  services?: string[]
}

/**
 * A key policy: the account administers the key (what the default policy says), and each named
 * service may generate data keys and decrypt. Without the second statement CloudWatch cannot
 * publish to an SNS topic encrypted with the key, and every alarm notification is dropped.
 */
export function keyPolicy(accountId: string, services: string[]) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministers',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
      ...(services.length
        ? [
            {
              Sid: 'ServicesEncrypt',
              Effect: 'Allow',
              Principal: { Service: services },
              Action: ['kms:GenerateDataKey*', 'kms:Decrypt'],
              Resource: '*',
            },
          ]
        : []),
    ],
  }
}

export class AwsKey extends pulumi.ComponentResource {
  readonly key: aws.kms.Key
  readonly arn: pulumi.Output<string>
  constructor(name: string, args: AwsKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:AwsKey', name, {}, opts)
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        region: args.region,
        description: `labdojo-dr ${args.site} ${args.purpose}`,
        enableKeyRotation: true,
        rotationPeriodInDays: ROTATION_DAYS,
        deletionWindowInDays: 30,
        ...(args.services?.length && args.accountId
          ? { policy: pulumi.output(args.accountId).apply((a) => JSON.stringify(keyPolicy(a, args.services!))) }
          : {}),
        tags: drTags(args.site, args.purpose),
      },
      { parent: this, protect: true },
    )
    new aws.kms.Alias(
      `${name}-alias`,
      { region: args.region, name: `alias/labdojo-dr-${args.site}-${args.purpose}`, targetKeyId: this.key.keyId },
      { parent: this },
    )
    this.arn = this.key.arn
    this.registerOutputs({ arn: this.arn })
  }
}

export interface GcpKeyArgs {
  site: string
  location: string
  purpose: string
}

export class GcpKey extends pulumi.ComponentResource {
  readonly key: gcp.kms.CryptoKey
  readonly id: pulumi.Output<string>
  constructor(name: string, args: GcpKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:GcpKey', name, {}, opts)
    const ring = new gcp.kms.KeyRing(
      `${name}-ring`,
      { name: `labdojo-dr-${args.site}`, location: args.location },
      { parent: this },
    )
    this.key = new gcp.kms.CryptoKey(
      `${name}-key`,
      {
        name: `${args.site}-${args.purpose}`,
        keyRing: ring.id,
        rotationPeriod: `${ROTATION_DAYS * 86400}s`,
        purpose: 'ENCRYPT_DECRYPT',
        labels: { site: args.site, purpose: args.purpose },
      },
      { parent: this, protect: true },
    )
    this.id = this.key.id
    this.registerOutputs({ id: this.id })
  }
}
