/**
 * labdojo:dr:DnsFailover - the guide's automated failover, done by DNS: a Route53 health check
 * on the primary site and PRIMARY/SECONDARY failover records. Detection settings come from the
 * DR policy; the runbook's failover.ts changes the same records when it fences by hand.
 */
import * as pulumi from '@pulumi/pulumi'
import * as aws from '@pulumi/aws'
import type { DrPolicy } from '../../core/policy.ts'
import { drTags } from './tags.ts'

export interface DnsFailoverArgs {
  zoneId: string
  recordName: string
  primaryTarget: pulumi.Input<string>
  secondaryTarget: pulumi.Input<string>
  healthCheckPort: number
  healthCheckPath: string
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
  constructor(name: string, args: DnsFailoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:DnsFailover', name, {}, opts)
    const t = healthCheckTiming(args.policy)
    this.healthCheck = new aws.route53.HealthCheck(
      `${name}-primary-health`,
      {
        type: 'HTTPS',
        fqdn: args.primaryTarget,
        port: args.healthCheckPort,
        resourcePath: args.healthCheckPath,
        requestInterval: t.requestInterval,
        failureThreshold: t.failureThreshold,
        measureLatency: true,
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
