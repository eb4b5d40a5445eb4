/**
 * labdojo:dr:Monitoring - the guide's alerting: backup age, backup storage usage, replication
 * lag and offsite sync, into an encrypted alert topic that reaches the communication plan's
 * recipients in order. Thresholds derive from the DR policy.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import type { DrPolicy } from '../../core/policy.ts'
import { drTags } from './tags.ts'

export interface MonitoringArgs {
  region: string
  policy: DrPolicy
  kmsKeyArn: pulumi.Input<string>
  recipients: Record<string, string>
  backupBucket: pulumi.Input<string>
  replicaBucket: pulumi.Input<string>
  replicationRuleId: string
  storageCapacityBytes: number
}

export interface AlarmSpec {
  name: string
  namespace: string
  metricName: string
  threshold: number
  statistic: 'Maximum' | 'Average'
  period: number
  dimensions: Record<string, pulumi.Input<string>>
  description: string
}

/**
 * The alarms, as data, on metrics AWS itself publishes: the bucket's size (daily) and the
 * replication latency (replication metrics are enabled on the rule). Backup age, archive lag and
 * replication lag alarms in a custom namespace were removed: nothing publishes those metrics, and
 * with missing data treated as breaching they fired forever. Those conditions are the rules of
 * core/alerts.ts, evaluated by Prometheus next to the database (README "Monitoring and alerting").
 */
export function alarmSpecs(
  a: Pick<MonitoringArgs, 'policy' | 'backupBucket' | 'replicaBucket' | 'replicationRuleId' | 'storageCapacityBytes'>,
): AlarmSpec[] {
  const p = a.policy
  return [
    {
      name: 'storage-usage',
      namespace: 'AWS/S3',
      metricName: 'BucketSizeBytes',
      threshold: Math.round(a.storageCapacityBytes * 0.85),
      statistic: 'Maximum',
      period: 86400,
      dimensions: { BucketName: a.backupBucket, StorageType: 'StandardStorage' },
      description: 'backup storage above 85% of capacity (the guide)',
    },
    {
      name: 'offsite-sync',
      namespace: 'AWS/S3',
      metricName: 'ReplicationLatency',
      threshold: p.tiers[1].rpo,
      statistic: 'Maximum',
      period: 300,
      dimensions: { SourceBucket: a.backupBucket, DestinationBucket: a.replicaBucket, RuleId: a.replicationRuleId },
      description: 'cross-region copy later than the tier-1 RPO',
    },
  ]
}

export class Monitoring extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic
  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:Monitoring', name, {}, opts)
    this.topic = new aws.sns.Topic(
      `${name}-alerts`,
      { region: args.region, kmsMasterKeyId: args.kmsKeyArn, tags: drTags('primary', 'alerts') },
      { parent: this },
    )
    // recipients in the communication plan's order
    for (const who of args.policy.communication.notificationOrder) {
      const email = args.recipients[who]
      if (!email) continue
      new aws.sns.TopicSubscription(
        `${name}-${who.toLowerCase().replace(/_/g, '-')}`,
        { region: args.region, topic: this.topic.arn, protocol: 'email', endpoint: email },
        { parent: this },
      )
    }
    for (const s of alarmSpecs(args)) {
      new aws.cloudwatch.MetricAlarm(
        `${name}-${s.name}`,
        {
          region: args.region,
          alarmDescription: s.description,
          namespace: s.namespace,
          metricName: s.metricName,
          dimensions: s.dimensions,
          statistic: s.statistic,
          period: s.period,
          evaluationPeriods: 1,
          threshold: s.threshold,
          comparisonOperator: 'GreaterThanThreshold',
          treatMissingData: 'notBreaching',
          alarmActions: [this.topic.arn],
          okActions: [this.topic.arn],
          tags: drTags('primary', 'alarm'),
        },
        { parent: this },
      )
    }
    this.registerOutputs({ topicArn: this.topic.arn })
  }
}
