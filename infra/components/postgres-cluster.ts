/**
 * labdojo:dr:PostgresCluster - PostgreSQL on Kubernetes through Crunchy PGO, which runs
 * pgBackRest natively: repos in the vaults, full/diff/incr schedules from the DR policy,
 * encrypted repos with a generated cipher pass (a Pulumi secret), and standby clusters for
 * the DR sites (streaming for hot, repo-fed for warm). The logical and user-progress exports
 * run as CronJobs of our runbooks' image.
 */
import * as pulumi from '@pulumi/pulumi'
import * as k8s from '@pulumi/kubernetes'
import * as random from '@pulumi/random'
import type { DrPolicy } from '../../core/policy.ts'
import { archiveTimeoutSeconds, diffsRetained } from '../../core/policy.ts'
import type { SiteConfig } from '../config.ts'

export interface RepoSpec {
  name: 'repo1' | 'repo2' | 'repo3'
  s3?: { bucket: pulumi.Input<string>; region: string; roleArn: pulumi.Input<string> }
  gcs?: { bucket: pulumi.Input<string> }
  /** schedules run against this repo */
  scheduled: boolean
  retentionFull: number
  retentionFullType: 'count' | 'time'
}

export interface PostgresClusterArgs {
  site: 'primary' | 'hot' | 'warm'
  config: SiteConfig
  policy: DrPolicy
  namespace: string
  pgoVersion: string
  runbookImage: string
  repos: RepoSpec[]
  /** hot: stream from this host; warm: replay from this repo */
  standby?: { host?: pulumi.Input<string>; repoName?: string }
  /** the cipher pass shared by every site reading the same repo */
  cipherPass?: pulumi.Input<string>
  stack: string
}

export const PGO_GROUP = 'postgres-operator.crunchydata.com/v1beta1'

export function pgbackrestGlobal(policy: DrPolicy, repos: RepoSpec[]): Record<string, string> {
  const g: Record<string, string> = {
    'archive-async': 'y',
    'spool-path': '/pgdata/pgbackrest-spool',
    'compress-type': 'lz4',
    'process-max': '2',
    'start-fast': 'y',
    'backup-standby': 'y',
  }
  for (const r of repos) {
    g[`${r.name}-cipher-type`] = 'aes-256-cbc'
    g[`${r.name}-retention-full-type`] = r.retentionFullType
    g[`${r.name}-retention-full`] = String(r.retentionFull)
    g[`${r.name}-retention-diff`] = String(diffsRetained(policy))
    if (r.s3) g[`${r.name}-s3-key-type`] = 'web-id'
  }
  return g
}

export function schedulesFor(policy: DrPolicy) {
  return {
    full: policy.schedules.full.cron,
    incremental: policy.schedules.incremental.cron,
    differential: policy.schedules.differential.cron,
  }
}

const INVENTORY_CONFIGMAP = 'labdojo-inventory'
const INVENTORY_DIR = '/etc/labdojo'
/** PGO's user-secret keys -> libpq environment */
const PG_ENV = { host: 'PGHOST', port: 'PGPORT', user: 'PGUSER', password: 'PGPASSWORD', dbname: 'PGDATABASE' } as const

export class PostgresCluster extends pulumi.ComponentResource {
  readonly cluster: k8s.apiextensions.CustomResource
  readonly host: pulumi.Output<string>
  readonly cipherPass: pulumi.Output<string>
  private readonly k8sOpts: pulumi.CustomResourceOptions
  private readonly namespaceName: pulumi.Output<string>
  private readonly resourceName: string

  constructor(name: string, args: PostgresClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('labdojo:dr:PostgresCluster', name, {}, opts)
    const provider = new k8s.Provider(
      `${name}-k8s`,
      { context: args.config.kubeContext, enableServerSideApply: true },
      { parent: this },
    )
    const o = { parent: this, provider }
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      { metadata: { name: args.namespace, labels: { 'app.kubernetes.io/part-of': 'labdojo-dr' } } },
      o,
    )
    const pgo = new k8s.helm.v3.Release(
      `${name}-pgo`,
      {
        chart: 'oci://registry.developers.crunchydata.com/crunchydata/pgo',
        version: args.pgoVersion,
        namespace: 'postgres-operator',
        createNamespace: true,
      },
      o,
    )

    const pass = args.cipherPass
      ? pulumi.secret(pulumi.output(args.cipherPass))
      : new random.RandomPassword(`${name}-cipher-pass`, { length: 64, special: false }, { parent: this }).result
    this.cipherPass = pulumi.secret(pass)
    // the pass reaches the cluster only as a secret output, in a Secret pgBackRest includes
    const conf = pass.apply((p) => `[global]\n${args.repos.map((r) => `${r.name}-cipher-pass=${p}`).join('\n')}\n`)
    const secret = new k8s.core.v1.Secret(
      `${name}-pgbackrest-conf`,
      {
        metadata: { name: 'labdojo-pgbackrest-conf', namespace: ns.metadata.name },
        // export-cipher-pass: the export CronJobs seal logical exports with it (as an env var, never argv)
        stringData: { 'cipher.conf': pulumi.secret(conf), 'export-cipher-pass': pulumi.secret(pass) },
      },
      o,
    )

    const sa = new k8s.core.v1.ServiceAccount(
      `${name}-pgbackrest-sa`,
      {
        metadata: {
          name: 'labdojo-pgbackrest',
          namespace: ns.metadata.name,
          annotations: args.repos.find((r) => r.s3)
            ? ({
                'eks.amazonaws.com/role-arn': args.repos.find((r) => r.s3)!.s3!.roleArn as pulumi.Input<string>,
              } as unknown as Record<string, string>)
            : {},
        },
      },
      o,
    )

    const sync = args.policy.sites.hot.replication === 'synchronous'
    const repos = args.repos.map((r) => ({
      name: r.name,
      ...(r.s3
        ? { s3: { bucket: r.s3.bucket, endpoint: `s3.${r.s3.region}.amazonaws.com`, region: r.s3.region } }
        : {}),
      ...(r.gcs ? { gcs: { bucket: r.gcs.bucket } } : {}),
      ...(r.scheduled && !args.standby ? { schedules: schedulesFor(args.policy) } : {}),
    }))
    this.cluster = new k8s.apiextensions.CustomResource(
      `${name}-postgres`,
      {
        apiVersion: PGO_GROUP,
        kind: 'PostgresCluster',
        metadata: {
          name: 'labdojo',
          namespace: ns.metadata.name,
          labels: { 'labdojo.com/site': args.site, 'labdojo.com/stack': args.stack },
        },
        spec: {
          postgresVersion: 15,
          instances: [
            {
              name: args.site,
              replicas: args.config.instances,
              resources: {
                requests: { cpu: args.config.cpu, memory: args.config.memory },
                limits: { memory: args.config.memory },
              },
              dataVolumeClaimSpec: {
                accessModes: ['ReadWriteOnce'],
                resources: { requests: { storage: args.config.storage } },
              },
            },
          ],
          patroni: {
            dynamicConfiguration: {
              synchronous_mode: sync && args.config.instances > 1,
              postgresql: {
                parameters: {
                  archive_timeout: String(archiveTimeoutSeconds(args.policy)),
                  wal_level: 'replica',
                  data_checksums: 'on',
                },
              },
            },
          },
          backups: {
            pgbackrest: {
              configuration: [{ secret: { name: secret.metadata.name } }],
              global: pgbackrestGlobal(args.policy, args.repos),
              metadata: { annotations: { 'labdojo.com/service-account': sa.metadata.name } },
              repos,
            },
          },
          ...(args.standby
            ? {
                standby: {
                  enabled: true,
                  ...(args.standby.host ? { host: args.standby.host, port: 5432 } : {}),
                  ...(args.standby.repoName ? { repoName: args.standby.repoName } : {}),
                },
              }
            : {}),
          service: { type: 'LoadBalancer' },
        },
      },
      { ...o, dependsOn: [pgo, secret] },
    )

    if (!args.standby) {
      // the guide's logical exports, run by our own runbooks
      for (const [job, cron, type] of [
        ['logical-export', args.policy.schedules.logicalExport.cron, 'logical'],
        ['user-progress-export', args.policy.schedules.userProgressExport.cron, 'logical'],
      ] as const) {
        new k8s.batch.v1.CronJob(
          `${name}-${job}`,
          {
            metadata: { name: `labdojo-${job}`, namespace: ns.metadata.name },
            spec: {
              schedule: cron,
              concurrencyPolicy: 'Forbid',
              successfulJobsHistoryLimit: 3,
              failedJobsHistoryLimit: 5,
              jobTemplate: {
                spec: {
                  backoffLimit: 1,
                  template: {
                    spec: {
                      serviceAccountName: sa.metadata.name,
                      restartPolicy: 'Never',
                      securityContext: { runAsNonRoot: true, runAsUser: 26 },
                      containers: [
                        {
                          name: job,
                          image: args.runbookImage,
                          args: [
                            'npx',
                            'zx',
                            'runbooks/backup.ts',
                            '--type',
                            type,
                            '--stack',
                            args.stack,
                            '--inventory',
                            `${INVENTORY_DIR}/inventory.json`,
                            '--json',
                          ],
                          // the database through PGO's user secret, the seal through ours; AWS through the service account (IRSA)
                          env: [
                            ...(['host', 'port', 'user', 'password', 'dbname'] as const).map((key) => ({
                              name: PG_ENV[key],
                              valueFrom: { secretKeyRef: { name: 'labdojo-pguser-labdojo', key } },
                            })),
                            {
                              name: 'LABDOJO_EXPORT_CIPHER_PASS',
                              valueFrom: {
                                secretKeyRef: { name: 'labdojo-pgbackrest-conf', key: 'export-cipher-pass' },
                              },
                            },
                            { name: 'LABDOJO_EXPORT_DIR', value: '/export' },
                          ],
                          volumeMounts: [
                            { name: 'export', mountPath: '/export' },
                            { name: 'inventory', mountPath: INVENTORY_DIR, readOnly: true },
                          ],
                        },
                      ],
                      volumes: [
                        { name: 'export', emptyDir: {} },
                        { name: 'inventory', configMap: { name: INVENTORY_CONFIGMAP } },
                      ],
                    },
                  },
                },
              },
            },
          },
          o,
        )
      }
    }
    this.k8sOpts = o
    this.resourceName = name
    this.namespaceName = ns.metadata.name
    this.host = pulumi.output(`labdojo-primary.${args.namespace}.svc`)
    this.registerOutputs({ host: this.host })
  }

  /** The stack's inventory as a ConfigMap beside the cluster: the export CronJobs read it. */
  publishInventory(json: pulumi.Input<string>): k8s.core.v1.ConfigMap {
    return new k8s.core.v1.ConfigMap(
      `${this.resourceName}-inventory`,
      {
        metadata: { name: INVENTORY_CONFIGMAP, namespace: this.namespaceName },
        data: { 'inventory.json': json },
      },
      this.k8sOpts,
    )
  }
}
