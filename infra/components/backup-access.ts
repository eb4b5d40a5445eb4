/**
 * labdojo:dr:BackupAccess - least privilege around the backup vaults:
 * - writer: what pgBackRest itself needs (backup, archive-push, and expire, which every backup
 *   runs: expire-auto, plus the clean-up of an interrupted backup): list, get, put, delete. On a
 *   versioned, object-locked bucket a delete only places a delete marker: the version stays until
 *   the lock and the lifecycle release it (DeleteObjectVersion stays denied). A writer without
 *   delete fails every backup with 403 and never applies retention;
 * - restore reader: read only;
 * - drill: read, and restore objects from Glacier for drills.
 * Every role is denied version deletion, lock changes and policy changes outright.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import { drTags } from './tags.ts'
import { MONITOR_NAME } from './monitoring-manifests.ts'
import { CLOUDWATCH_NAMESPACE } from '../../core/alerts.ts'

export interface BackupAccessArgs {
  site: string
  bucketArns: pulumi.Input<string>[]
  kmsKeyArns: pulumi.Input<string>[]
  accountId: pulumi.Input<string>
  /** EKS OIDC issuers whose service accounts (PGO's and the export job's) assume the writer role */
  writerIssuers: string[]
  /** EKS OIDC issuers whose service accounts assume the reader role (the hot standby cluster) */
  readerIssuers: string[]
  /** the GCP Storage Transfer agent, which reads by Google federation (accounts.google.com) */
  transferAgentSubjectId: string
  /** EKS OIDC issuers whose DR exporter (labdojo-monitor, and it alone) assumes the monitor role */
  monitorIssuers: string[]
}

/** PGO's accounts for cluster `labdojo` (instances: archive-push; repo host and backup jobs) and the export job's. */
export const POD_ACCOUNTS = ['labdojo-instance', 'labdojo-pgbackrest', 'labdojo-export']
const NAMESPACE = 'labdojo'

/**
 * Pods authenticate by web identity (IRSA: the cluster's OIDC provider, AssumeRoleWithWebIdentity,
 * the audience and the service accounts pinned); the transfer agent by Google federation, its
 * subject pinned; people (drills) by the account. An `arn:aws:iam::<account>:root` AssumeRole
 * trust lets no pod in.
 */
export function trustPolicy(
  accountId: string,
  o: { issuers?: string[]; googleSubject?: string; account?: boolean; monitorIssuers?: string[] },
): Record<string, unknown> {
  const web = (issuer: string, accounts: string[]) => ({
    Effect: 'Allow',
    Principal: { Federated: `arn:aws:iam::${accountId}:oidc-provider/${issuer}` },
    Action: 'sts:AssumeRoleWithWebIdentity',
    Condition: {
      StringEquals: {
        [`${issuer}:aud`]: 'sts.amazonaws.com',
        [`${issuer}:sub`]: accounts.map((sa) => `system:serviceaccount:${NAMESPACE}:${sa}`),
      },
    },
  })
  const statements: Record<string, unknown>[] = [
    ...(o.issuers ?? []).map((issuer) => web(issuer, POD_ACCOUNTS)),
    ...(o.monitorIssuers ?? []).map((issuer) => web(issuer, [MONITOR_NAME])),
  ]
  if (o.googleSubject)
    statements.push({
      Effect: 'Allow',
      Principal: { Federated: 'accounts.google.com' },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: { StringEquals: { 'accounts.google.com:sub': o.googleSubject } },
    })
  if (o.account)
    statements.push({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' })
  return { Version: '2012-10-17', Statement: statements }
}

export const ROLE_ACTIONS = {
  writer: ['s3:PutObject', 's3:GetObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:DeleteObject'],
  reader: ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketLocation'],
  drill: ['s3:GetObject', 's3:GetObjectVersion', 's3:ListBucket', 's3:RestoreObject', 's3:GetBucketLocation'],
  /** the DR exporter: reads the vaults (and publishes PrimaryUp: see PUBLISH_PRIMARY_UP) */
  monitor: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
} as const

/** The exporter's one write: its own metric namespace (PutMetricData has no resource-level ARN, hence the condition). */
const PUBLISH_PRIMARY_UP = {
  Sid: 'PublishPrimaryUp',
  Effect: 'Allow',
  Action: ['cloudwatch:PutMetricData'],
  Resource: '*',
  Condition: { StringEquals: { 'cloudwatch:namespace': CLOUDWATCH_NAMESPACE } },
}

/** Marks the statement of the role pgBackRest runs as (the policy pack checks its actions). */
export const PGBACKREST_SID = 'PgBackRestRepo'

export const ALWAYS_DENIED = [
  's3:DeleteObjectVersion',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutLifecycleConfiguration',
  's3:DeleteBucket',
]

/** Who may assume each role: pgBackRest's pods the writer; the hot cluster's pods, the exporters and the transfer agent the reader; people the drill role. */
function whoAssumes(role: keyof typeof ROLE_ACTIONS, args: BackupAccessArgs): Parameters<typeof trustPolicy>[1] {
  if (role === 'writer') return { issuers: args.writerIssuers }
  if (role === 'reader') return { issuers: args.readerIssuers, googleSubject: args.transferAgentSubjectId }
  if (role === 'monitor') return { monitorIssuers: args.monitorIssuers }
  return { account: true }
}

export class BackupAccess extends pulumi.ComponentResource {
  readonly roles: Record<keyof typeof ROLE_ACTIONS, aws.iam.Role>
  constructor(name: string, args: BackupAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:BackupAccess', name, {}, opts)
    const objects = args.bucketArns.map((a) => pulumi.interpolate`${a}/*`)
    const kmsFor = (role: keyof typeof ROLE_ACTIONS) =>
      role === 'writer' ? ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:Decrypt'] : ['kms:Decrypt']
    this.roles = Object.fromEntries(
      (Object.keys(ROLE_ACTIONS) as (keyof typeof ROLE_ACTIONS)[]).map((role) => {
        const r = new aws.iam.Role(
          `${name}-${role}`,
          {
            description: `labdojo-dr ${args.site} backup ${role}`,
            assumeRolePolicy: pulumi
              .output(args.accountId)
              .apply((a) => JSON.stringify(trustPolicy(a, whoAssumes(role, args)))),
            maxSessionDuration: 8 * 3600, // the guide: token lifetime 8 hours
            tags: drTags(args.site, `backup-${role}`),
          },
          { parent: this },
        )
        new aws.iam.RolePolicy(
          `${name}-${role}`,
          {
            role: r.id,
            policy: pulumi.jsonStringify({
              Version: '2012-10-17',
              Statement: [
                {
                  Sid: role === 'writer' ? PGBACKREST_SID : 'Allowed',
                  Effect: 'Allow',
                  Action: [...ROLE_ACTIONS[role]],
                  Resource: [...args.bucketArns, ...objects],
                },
                { Sid: 'Keys', Effect: 'Allow', Action: kmsFor(role), Resource: args.kmsKeyArns },
                ...(role === 'monitor' ? [PUBLISH_PRIMARY_UP] : []),
                {
                  Sid: 'NeverDestroyBackups',
                  Effect: 'Deny',
                  Action: ALWAYS_DENIED,
                  Resource: [...args.bucketArns, ...objects],
                },
              ],
            }),
          },
          { parent: this },
        )
        return [role, r]
      }),
    ) as Record<keyof typeof ROLE_ACTIONS, aws.iam.Role>
    this.registerOutputs({ roles: Object.fromEntries(Object.entries(this.roles).map(([k, v]) => [k, v.arn])) })
  }
}
