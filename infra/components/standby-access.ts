/**
 * labdojo:dr:StandbyAccess - what the hot site's pgBackRest may do in the replica vault (issue 14,
 * defect 8). While a standby it only reads; once promoted it archives and backs up, and with the
 * read-only role every archive-push and backup would fail with 403. Writing where the primary's
 * replicated repo lives (same path, same stanza) would mix a second timeline into the copy the
 * cold site restores from. So the hot cluster's repo has a path of its own in the replica vault,
 * and its role may write there alone: read the whole vault, put, get, list and delete under its
 * own prefix, never delete a version or touch the lock (the vault's deny holds for it too).
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import { ALWAYS_DENIED, PGBACKREST_SID, ROLE_ACTIONS, trustPolicy } from './backup-access.ts'
import { drTags } from './tags.ts'

export interface StandbyAccessArgs {
  accountId: pulumi.Input<string>
  /** the hot cluster's EKS OIDC issuer (its PGO pods assume the role by web identity) */
  issuer: string
  bucketArn: pulumi.Input<string>
  /** the hot repo's path in the bucket, without the leading slash */
  prefix: string
  kmsKeyArn: pulumi.Input<string>
}

export class StandbyAccess extends pulumi.ComponentResource {
  readonly role: aws.iam.Role
  constructor(name: string, args: StandbyAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:StandbyAccess', name, {}, opts)
    this.role = new aws.iam.Role(
      name,
      {
        description: 'labdojo-dr hot site pgBackRest: reads the replica vault, writes its own repo once promoted',
        assumeRolePolicy: pulumi
          .output(args.accountId)
          .apply((a) => JSON.stringify(trustPolicy(a, { issuers: [args.issuer] }))),
        maxSessionDuration: 8 * 3600,
        tags: drTags('hot', 'backup-standby-writer'),
      },
      { parent: this },
    )
    const own = pulumi.interpolate`${args.bucketArn}/${args.prefix}/*`
    new aws.iam.RolePolicy(
      name,
      {
        role: this.role.id,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            { Sid: PGBACKREST_SID, Effect: 'Allow', Action: [...ROLE_ACTIONS.writer], Resource: [args.bucketArn, own] },
            {
              Sid: 'ReadTheReplica',
              Effect: 'Allow',
              Action: [...ROLE_ACTIONS.reader],
              Resource: [args.bucketArn, pulumi.interpolate`${args.bucketArn}/*`],
            },
            {
              Sid: 'Keys',
              Effect: 'Allow',
              Action: ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:Decrypt'],
              Resource: [args.kmsKeyArn],
            },
            {
              Sid: 'NeverDestroyBackups',
              Effect: 'Deny',
              Action: ALWAYS_DENIED,
              Resource: [args.bucketArn, pulumi.interpolate`${args.bucketArn}/*`],
            },
          ],
        }),
      },
      { parent: this },
    )
    this.registerOutputs({ role: this.role.arn })
  }
}
