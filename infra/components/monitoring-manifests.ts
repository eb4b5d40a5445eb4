/**
 * The monitoring objects each cluster gets, as pure functions of the DR policy and the site
 * (Pulumi inputs pass through untouched): the DR exporter (runbooks/monitor.ts of the runbooks
 * image, reading the stack's inventory) as a Deployment with its account, role and Service; a
 * ServiceMonitor and a PrometheusRule for the Prometheus Operator (the same rules as the local
 * site: core/alerts.ts); the Alertmanager configuration generated from the communication plan,
 * as a Secret; the guide's dashboard as a ConfigMap for Grafana's sidecar. Tests validate them
 * against the Kubernetes and Prometheus Operator schemas.
 */
import { MONITOR_USER, userSecretName } from './pgo-manifests.ts'
import type * as pulumi from '@pulumi/pulumi'
import type * as k8s from '@pulumi/kubernetes'
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { stringify } from 'yaml'
import {
  CLOUD_EXPORTER_PORT,
  EXPORTER_JOB,
  alertmanagerConfig,
  ruleGroups,
  type ReceiverTarget,
} from '../../core/alerts.ts'
import { grafanaDashboard } from '../../core/dashboard.ts'
import type { DrPolicy } from '../../core/policy.ts'
import { INVENTORY_CONFIGMAP, INVENTORY_DIR } from './pgo-manifests.ts'

export interface MonitoringManifestArgs {
  site: 'primary' | 'hot' | 'warm'
  stack: 'prod' | 'dr'
  policy: DrPolicy
  namespace: string
  runbookImage: string
  /** the labels this cluster's Prometheus selects ServiceMonitors and PrometheusRules by */
  prometheusLabels: Record<string, string>
  /** the Prometheus Operator's Alertmanager the configuration is for: its Secret is alertmanager-<name> in its namespace */
  alertmanager: { name: string; namespace: string }
  smarthost: string
  emails: Record<string, string>
  /** where the exporter publishes PrimaryUp for the DNS failover record's health (AWS stacks) */
  cloudwatch?: { namespace: string; region: string }
  /** the exporter's cloud identity: an IAM role (IRSA) or a Google account (Workload Identity) */
  identity: { awsRoleArn?: pulumi.Input<string>; gcpServiceAccount?: pulumi.Input<string> }
}

export const MONITOR_NAME = 'labdojo-monitor'
const LABELS = { 'app.kubernetes.io/name': MONITOR_NAME, 'app.kubernetes.io/part-of': 'labdojo-dr' }
/** the Service label the ServiceMonitor takes the job name from: the rules expect job="labdojo" */
const JOB_LABEL = 'labdojo.com/job'

const meta = (a: MonitoringManifestArgs, name: string, labels: Record<string, string> = {}) => ({
  name,
  namespace: a.namespace,
  labels: { ...LABELS, 'labdojo.com/site': a.site, ...labels },
})

export function monitorServiceAccount(a: MonitoringManifestArgs): k8s.types.input.core.v1.ServiceAccount {
  const annotations: Record<string, pulumi.Input<string>> = {}
  if (a.identity.awsRoleArn) annotations['eks.amazonaws.com/role-arn'] = a.identity.awsRoleArn
  if (a.identity.gcpServiceAccount) annotations['iam.gke.io/gcp-service-account'] = a.identity.gcpServiceAccount
  return { metadata: { ...meta(a, MONITOR_NAME), annotations } }
}

/** Read-only: the PostgresCluster's status (PGO's scheduled backup jobs), nothing else. */
export function monitorRole(a: MonitoringManifestArgs): k8s.types.input.rbac.v1.Role {
  return {
    metadata: meta(a, MONITOR_NAME),
    rules: [{ apiGroups: ['postgres-operator.crunchydata.com'], resources: ['postgresclusters'], verbs: ['get'] }],
  }
}

export function monitorRoleBinding(a: MonitoringManifestArgs): k8s.types.input.rbac.v1.RoleBinding {
  return {
    metadata: meta(a, MONITOR_NAME),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: MONITOR_NAME },
    subjects: [{ kind: 'ServiceAccount', name: MONITOR_NAME, namespace: a.namespace }],
  }
}

/** The exporter: one replica (it only reads), as uid 26, its secrets from the environment (never argv). */
export function monitorDeployment(a: MonitoringManifestArgs): k8s.types.input.apps.v1.Deployment {
  const args = [
    'npx',
    'zx',
    'runbooks/monitor.ts',
    '--stack',
    a.stack,
    '--inventory',
    `${INVENTORY_DIR}/inventory.json`,
  ]
  return {
    metadata: meta(a, MONITOR_NAME),
    spec: {
      replicas: 1,
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          serviceAccountName: MONITOR_NAME,
          securityContext: { runAsNonRoot: true, runAsUser: 26, fsGroup: 65534 },
          containers: [
            {
              name: 'exporter',
              image: a.runbookImage,
              args: [...args, '--listen', '0.0.0.0', '--port', String(CLOUD_EXPORTER_PORT)],
              ports: [{ name: 'metrics', containerPort: CLOUD_EXPORTER_PORT }],
              env: monitorEnv(a),
              readinessProbe: { httpGet: { path: '/metrics', port: 'metrics' }, periodSeconds: 30, timeoutSeconds: 5 },
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true },
              volumeMounts: [
                { name: 'inventory', mountPath: INVENTORY_DIR, readOnly: true },
                { name: 'scratch', mountPath: '/var/tmp' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'inventory', configMap: { name: INVENTORY_CONFIGMAP } },
            { name: 'scratch', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  }
}

/** The exporter's environment: its site, where to publish PrimaryUp, its secrets from Secrets (never argv). */
function monitorEnv(a: MonitoringManifestArgs): k8s.types.input.core.v1.EnvVar[] {
  const secretEnv = (name: string, secret: string, key: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
  })
  return [
    { name: 'LABDOJO_SITE', value: a.site },
    ...(a.cloudwatch
      ? [
          { name: 'LABDOJO_CLOUDWATCH_NAMESPACE', value: a.cloudwatch.namespace },
          { name: 'LABDOJO_CLOUDWATCH_REGION', value: a.cloudwatch.region },
        ]
      : []),
    // the monitoring user (pg_monitor), through TLS: PGO accepts passwords over TLS only (hba.go)
    secretEnv('PGUSER', userSecretName(MONITOR_USER), 'user'),
    secretEnv('PGPASSWORD', userSecretName(MONITOR_USER), 'password'),
    { name: 'PGSSLMODE', value: 'require' },
    secretEnv('LABDOJO_REPO_CIPHER_PASS', 'labdojo-pgbackrest-conf', 'export-cipher-pass'),
  ]
}

export function monitorService(a: MonitoringManifestArgs): k8s.types.input.core.v1.Service {
  return {
    metadata: meta(a, MONITOR_NAME, { [JOB_LABEL]: EXPORTER_JOB }),
    spec: {
      type: 'ClusterIP',
      selector: LABELS,
      ports: [{ name: 'metrics', port: CLOUD_EXPORTER_PORT, targetPort: 'metrics' }],
    },
  }
}

export function serviceMonitor(a: MonitoringManifestArgs): IServiceMonitor {
  const p = a.policy.monitoring
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta(a, MONITOR_NAME, a.prometheusLabels),
    spec: {
      jobLabel: JOB_LABEL,
      selector: { matchLabels: { ...LABELS, [JOB_LABEL]: EXPORTER_JOB } },
      namespaceSelector: { matchNames: [a.namespace] },
      endpoints: [
        {
          port: 'metrics',
          path: '/metrics',
          interval: `${p.scrapeInterval}s`,
          scrapeTimeout: `${Math.min(p.scrapeInterval, 10)}s`,
        },
      ],
    },
  }
}

export function prometheusRule(a: MonitoringManifestArgs): IPrometheusRule {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: meta(a, 'labdojo-dr', a.prometheusLabels),
    spec: ruleGroups(a.policy),
  }
}

/**
 * Alertmanager's configuration from the communication plan, for the Prometheus Operator's
 * Alertmanager (its Secret alertmanager-<name>, key alertmanager.yaml). The webhook URLs are
 * written into it: the whole Secret is secret, and Pulumi keeps its value encrypted.
 */
export function alertmanagerYaml(a: MonitoringManifestArgs, webhooks: Record<string, string | string[]>): string {
  const targets: ReceiverTarget[] = [
    ...Object.entries(webhooks).flatMap(([recipient, urls]) => [urls].flat().map((url) => ({ recipient, url }))),
    ...Object.entries(a.emails).map(([recipient, email]) => ({ recipient, email })),
  ]
  return stringify(alertmanagerConfig(a.policy, targets, a.smarthost))
}

export function alertmanagerSecretMeta(a: MonitoringManifestArgs) {
  return { ...meta(a, `alertmanager-${a.alertmanager.name}`), namespace: a.alertmanager.namespace }
}

export function grafanaDashboardConfigMap(a: MonitoringManifestArgs): k8s.types.input.core.v1.ConfigMap {
  return {
    metadata: meta(a, 'labdojo-dr-dashboard', { grafana_dashboard: '1' }),
    data: { 'labdojo-dr.json': JSON.stringify(grafanaDashboard(a.policy), null, 2) },
  }
}
