/**
 * labdojo:dr:ClusterMonitoring - the DR exporter, its scrape, the alert rules, the Alertmanager
 * routes and the dashboard in one cluster (monitoring-manifests.ts), so that each region
 * watches and alerts on its own: a primary region that is gone cannot silence the hot one.
 */
import * as pulumi from '@pulumi/pulumi'
import * as k8s from '@pulumi/kubernetes'
import {
  alertmanagerSecretMeta,
  alertmanagerYaml,
  grafanaDashboardConfigMap,
  monitorDeployment,
  monitorRole,
  monitorRoleBinding,
  monitorService,
  monitorServiceAccount,
  prometheusRule,
  serviceMonitor,
  type MonitoringManifestArgs,
} from './monitoring-manifests.ts'

export interface ClusterMonitoringArgs extends MonitoringManifestArgs {
  provider: k8s.Provider
  /** recipient -> Slack-compatible webhook URL(s): a secret (pulumi config set --secret) */
  webhooks: pulumi.Input<Record<string, string | string[]>>
  /** created after these (the namespace, the inventory ConfigMap, the secrets the exporter reads) */
  dependsOn: pulumi.Input<pulumi.Resource>[]
}

export class ClusterMonitoring extends pulumi.ComponentResource {
  constructor(name: string, args: ClusterMonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:ClusterMonitoring', name, {}, opts)
    const o = { parent: this, provider: args.provider, dependsOn: args.dependsOn }
    const a: MonitoringManifestArgs = args
    new k8s.core.v1.ServiceAccount(`${name}-sa`, monitorServiceAccount(a), o)
    new k8s.rbac.v1.Role(`${name}-role`, monitorRole(a), o)
    new k8s.rbac.v1.RoleBinding(`${name}-role-binding`, monitorRoleBinding(a), o)
    new k8s.apps.v1.Deployment(`${name}-exporter`, monitorDeployment(a), o)
    new k8s.core.v1.Service(`${name}-service`, monitorService(a), o)
    new k8s.apiextensions.CustomResource(`${name}-service-monitor`, serviceMonitor(a), o)
    new k8s.apiextensions.CustomResource(`${name}-rules`, prometheusRule(a), o)
    new k8s.core.v1.Secret(
      `${name}-alertmanager`,
      {
        metadata: alertmanagerSecretMeta(a),
        stringData: {
          'alertmanager.yaml': pulumi.secret(pulumi.output(args.webhooks).apply((w) => alertmanagerYaml(a, w))),
        },
      },
      o,
    )
    new k8s.core.v1.ConfigMap(`${name}-dashboard`, grafanaDashboardConfigMap(a), o)
    this.registerOutputs({})
  }
}
