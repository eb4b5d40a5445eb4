/**
 * labdojo:dr:DnsFailover - the guide's automated failover, done by DNS: a Route53 health check
 * on the primary site and PRIMARY/SECONDARY failover records. Detection settings come from the
 * DR policy; the runbook's failover.ts changes the same records when it fences by hand.
 *
 * The primary is private (an internal load balancer): Route53's health checkers, outside the VPC,
 * cannot reach it (issue 14, defect 9: an HTTPS check on a private name was always unhealthy, so
 * the record always answered with the read-only standby). The health check reads a CloudWatch
 * alarm instead, on PrimaryUp, which the DR exporter of every region publishes from inside its
 * network (runbooks/lib/ops/monitor/cloud-source.ts): the alarm takes the maximum, so the
 * primary counts as down only when no observer sees it answer as a primary, for the policy's
 * consecutive minutes. The alarm lives in the hot region (the primary's region failing must not
 * take the alarm with it); with no data at all the health check keeps its last status, so an
 * exporter outage never moves traffic to a standby.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import type { DrPolicy } from '../../core/policy.ts'
import { drTags } from './tags.ts'
import { CLOUDWATCH_NAMESPACE, PRIMARY_UP_METRIC } from '../../core/alerts.ts'

export interface DnsFailoverArgs {
  zoneId: string
  recordName: string
  primaryTarget: pulumi.Input<string>
  secondaryTarget: pulumi.Input<string>
  /** the region the PrimaryUp alarm lives in (the hot site's) */
  alarmRegion: string
  stack: string
  policy: DrPolicy
}

/** Route53 allows 10 s or 30 s intervals and thresholds 1..10: the closest to the policy. */
export function healthCheckTiming(p: DrPolicy): { requestInterval: 10 | 30; failureThreshold: number } {
  return {
    requestInterval: p.detection.probeInterval <= 10 ? 10 : 30,
    failureThreshold: Math.min(10, Math.max(1, p.detection.failureThreshold)),
  }
}

export class DnsFailover extends pulumi.ComponentResource {
  readonly healthCheck: aws.route53.HealthCheck
  readonly fqdn: pulumi.Output<string>
  /** the PrimaryUp alarm: the distributed observer failover.ts --watch asks too */
  readonly alarmName: pulumi.Output<string>
  constructor(name: string, args: DnsFailoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:DnsFailover', name, {}, opts)
    const alarm = new aws.cloudwatch.MetricAlarm(
      `${name}-primary-up`,
      {
        region: args.alarmRegion,
        alarmDescription: `no DR exporter sees the primary of ${args.stack} answer as a primary (PrimaryUp, maximum over observers)`,
        namespace: CLOUDWATCH_NAMESPACE,
        metricName: PRIMARY_UP_METRIC,
        dimensions: { Stack: args.stack },
        statistic: 'Maximum',
        period: 60, // standard-resolution metrics: one point a minute at least
        evaluationPeriods: healthCheckTiming(args.policy).failureThreshold,
        threshold: 1,
        comparisonOperator: 'LessThanThreshold',
        treatMissingData: 'missing',
        tags: drTags('primary', 'health-alarm'),
      },
      { parent: this },
    )
    this.alarmName = alarm.name
    this.healthCheck = new aws.route53.HealthCheck(
      `${name}-primary-health`,
      {
        type: 'CLOUDWATCH_METRIC',
        cloudwatchAlarmName: alarm.name,
        cloudwatchAlarmRegion: args.alarmRegion,
        insufficientDataHealthStatus: 'LastKnownStatus',
        tags: drTags('primary', 'health-check', { Name: `${args.recordName} primary` }),
      },
      { parent: this },
    )
    const common = { zoneId: args.zoneId, name: args.recordName, type: 'CNAME', ttl: 30 }
    new aws.route53.Record(
      `${name}-primary`,
      {
        ...common,
        setIdentifier: 'primary',
        records: [args.primaryTarget],
        failoverRoutingPolicies: [{ type: 'PRIMARY' }],
        healthCheckId: this.healthCheck.id,
      },
      { parent: this },
    )
    new aws.route53.Record(
      `${name}-secondary`,
      {
        ...common,
        setIdentifier: 'hot',
        records: [args.secondaryTarget],
        failoverRoutingPolicies: [{ type: 'SECONDARY' }],
      },
      { parent: this },
    )
    this.fqdn = pulumi.output(args.recordName)
    this.registerOutputs({ fqdn: this.fqdn, healthCheckId: this.healthCheck.id })
  }
}
