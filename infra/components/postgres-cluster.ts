/**
 * labdojo:dr:PostgresCluster - PostgreSQL on Kubernetes through Crunchy PGO, which runs
 * pgBackRest natively: repos in the vaults, full/diff/incr schedules from the DR policy,
 * encrypted repos with a generated cipher pass (a Pulumi secret), and standby clusters for
 * the DR sites (streaming for hot, repo-fed for warm). The logical and user-progress exports
 * run as CronJobs of our runbooks' image. The manifests themselves are pgo-manifests.ts.
 */
import * as pulumi from '@pulumi/pulumi'
import * as k8s from '@pulumi/kubernetes'
import * as random from '@pulumi/random'
import { AUTO_CREATE_USER_SCHEMA_ANNOTATION, REPLAY_ONLY_ANNOTATION } from '../../core/pgo.ts'
import { userSecretLabels } from '../../core/pgo.ts'
import {
  INIT_SQL,
  INIT_SQL_CONFIGMAP,
  PGO_USERS,
  userSecretName,
  exportCronJob,
  exportJobs,
  INVENTORY_CONFIGMAP,
  PGO_GROUP,
  postgresClusterSpec,
  type PostgresClusterArgs,
} from './pgo-manifests.ts'
import type { ClusterTls } from './replication-tls.ts'

export { PGO_GROUP, pgbackrestGlobal, schedulesFor, type PostgresClusterArgs, type RepoSpec } from './pgo-manifests.ts'

export class PostgresCluster extends pulumi.ComponentResource {
  readonly cluster: k8s.apiextensions.CustomResource
  readonly host: pulumi.Output<string>
  readonly cipherPass: pulumi.Output<string>
  /** the cluster's Kubernetes provider (for what else runs beside PostgreSQL: the monitoring) */
  readonly provider: k8s.Provider
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
    this.provider = provider
    const o = { parent: this, provider }
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      { metadata: { name: args.namespace, labels: { 'app.kubernetes.io/part-of': 'labdojo-dr' } } },
      o,
    )
    const pgo = this.operator(name, args, o)

    const pass = args.cipherPass
      ? pulumi.secret(pulumi.output(args.cipherPass))
      : new random.RandomPassword(`${name}-cipher-pass`, { length: 64, special: false }, { parent: this }).result
    this.cipherPass = pulumi.secret(pass)
    const secret = this.cipherSecret(name, args, ns.metadata.name, o, pass)

    const sa = this.serviceAccount(name, args, ns.metadata.name, o)
    const tls = args.tls ? this.tlsSecrets(name, args.tls, ns.metadata.name, o) : undefined
    const users = this.userSecrets(name, args, ns.metadata.name, o)
    const initSql = this.initSql(name, ns.metadata.name, o)

    this.cluster = new k8s.apiextensions.CustomResource(
      `${name}-postgres`,
      {
        apiVersion: PGO_GROUP,
        kind: 'PostgresCluster',
        metadata: {
          name: 'labdojo',
          namespace: ns.metadata.name,
          labels: { 'labdojo.com/site': args.site, 'labdojo.com/stack': args.stack },
          annotations: {
            // PostgreSQL 15's public schema takes no CREATE from the application user: PGO gives each
            // user a schema of its own (with the operator's AutoCreateUserSchema gate, below; found by the twin)
            [AUTO_CREATE_USER_SCHEMA_ANNOTATION]: 'true',
            // the repos failover stops writing to at promotion (core/pgo.ts promotionPatch reads them here)
            ...(args.standby?.replayOnly?.length
              ? { [REPLAY_ONLY_ANNOTATION]: args.standby.replayOnly.join(',') }
              : {}),
          },
        },
        spec: postgresClusterSpec(args, {
          cipherSecret: secret.metadata.name,
          ...(tls ? { tls: { server: tls[0].metadata.name, replication: tls[1].metadata.name } } : {}),
        }),
      },
      { ...o, dependsOn: [pgo, secret, initSql, ...users, ...(tls ?? [])] },
    )

    // the guide's logical exports, run by our own runbooks
    if (!args.standby)
      for (const [job, cron, type] of exportJobs(args.policy))
        new k8s.batch.v1.CronJob(
          `${name}-${job}`,
          exportCronJob(args, job, cron, type, ns.metadata.name, sa.metadata.name),
          o,
        )
    this.k8sOpts = o
    this.resourceName = name
    this.namespaceName = ns.metadata.name
    this.host = pulumi.output(`labdojo-primary.${args.namespace}.svc`)
    this.registerOutputs({ host: this.host })
  }

  /**
   * The export CronJobs' service account (IRSA: they write sealed exports to the bucket). Not
   * pgBackRest's: PGO makes its own accounts and annotates them from spec.metadata; a Pulumi-made
   * account of PGO's naming would collide with its backup-job account.
   */
  private serviceAccount(
    name: string,
    args: PostgresClusterArgs,
    namespace: pulumi.Input<string>,
    o: pulumi.CustomResourceOptions,
  ): k8s.core.v1.ServiceAccount {
    return new k8s.core.v1.ServiceAccount(
      `${name}-export-sa`,
      {
        metadata: {
          name: 'labdojo-export',
          namespace,
          annotations: args.repos.find((r) => r.s3)
            ? ({
                'eks.amazonaws.com/role-arn': args.repos.find((r) => r.s3)!.s3!.roleArn as pulumi.Input<string>,
              } as unknown as Record<string, string>)
            : {},
        },
      },
      o,
    )
  }

  /** Crunchy PGO itself, at the pinned version. */
  private operator(name: string, args: PostgresClusterArgs, o: pulumi.CustomResourceOptions): k8s.helm.v3.Release {
    return new k8s.helm.v3.Release(
      `${name}-pgo`,
      {
        chart: 'oci://registry.developers.crunchydata.com/crunchydata/pgo',
        version: args.pgoVersion,
        namespace: 'postgres-operator',
        createNamespace: true,
        // the chart's feature gates (PGO_FEATURE_GATES): the users' own schemas (the cluster's annotation asks for them)
        values: { features: { AutoCreateUserSchema: true } },
      },
      o,
    )
  }

  /** The repo cipher pass (given, or generated as a Pulumi secret), in a Secret pgBackRest includes. */
  private cipherSecret(
    name: string,
    args: PostgresClusterArgs,
    namespace: pulumi.Input<string>,
    o: pulumi.CustomResourceOptions,
    pass: pulumi.Output<string>,
  ): k8s.core.v1.Secret {
    // the pass reaches the cluster only as a secret output, in a Secret pgBackRest includes
    const conf = pass.apply((p) => `[global]\n${args.repos.map((r) => `${r.name}-cipher-pass=${p}`).join('\n')}\n`)
    return new k8s.core.v1.Secret(
      `${name}-pgbackrest-conf`,
      {
        metadata: { name: 'labdojo-pgbackrest-conf', namespace },
        // export-cipher-pass: the export CronJobs seal logical exports with it (as an env var, never argv)
        stringData: { 'cipher.conf': pulumi.secret(conf), 'export-cipher-pass': pulumi.secret(pass) },
      },
      o,
    )
  }

  /** spec.databaseInitSQL's ConfigMap (pg_monitor for the monitoring user). */
  private initSql(name: string, namespace: pulumi.Input<string>, o: pulumi.CustomResourceOptions) {
    return new k8s.core.v1.ConfigMap(
      `${name}-init-sql`,
      { metadata: { name: INIT_SQL_CONFIGMAP.name, namespace }, data: { [INIT_SQL_CONFIGMAP.key]: INIT_SQL } },
      o,
    )
  }

  /**
   * Each user's Secret, written before PGO sees the cluster, with the chain's shared password:
   * PGO keeps an existing Secret's password and builds the verifier from it
   * (controller/postgrescluster/postgres.go generatePostgresUserSecret), and finds the Secret by
   * these labels. Without it every cluster generates its own, and a failover locks clients out.
   */
  private userSecrets(
    name: string,
    args: PostgresClusterArgs,
    namespace: pulumi.Input<string>,
    o: pulumi.CustomResourceOptions,
  ): k8s.core.v1.Secret[] {
    if (!args.userPasswords) return []
    return PGO_USERS.map(
      (u) =>
        new k8s.core.v1.Secret(
          `${name}-pguser-${u.name}`,
          {
            metadata: {
              name: userSecretName(u.name),
              namespace,
              labels: userSecretLabels('labdojo', u.name),
            },
            stringData: { user: u.name, password: pulumi.secret(args.userPasswords![u.name]) },
          },
          o,
        ),
    )
  }

  /** The certificates of the shared CA, as PGO's custom TLS Secrets (ca.crt, tls.crt, tls.key). */
  private tlsSecrets(
    name: string,
    t: ClusterTls,
    namespace: pulumi.Input<string>,
    o: pulumi.CustomResourceOptions,
  ): [k8s.core.v1.Secret, k8s.core.v1.Secret] {
    const secret = (
      suffix: string,
      secretName: string,
      pair: { cert: pulumi.Input<string>; key: pulumi.Input<string> },
    ) =>
      new k8s.core.v1.Secret(
        `${name}-${suffix}`,
        {
          metadata: { name: secretName, namespace },
          type: 'kubernetes.io/tls',
          stringData: { 'ca.crt': t.ca, 'tls.crt': pair.cert, 'tls.key': pulumi.secret(pair.key) },
        },
        o,
      )
    return [secret('tls', 'labdojo-tls', t.server), secret('replication-tls', 'labdojo-replication-tls', t.replication)]
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
