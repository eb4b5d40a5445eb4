/**
 * The Kubernetes objects a PostgresCluster component emits, as pure functions of its arguments
 * (Pulumi inputs pass through untouched): the PGO PostgresCluster spec, pgBackRest's global
 * settings, the backup schedules, and the export CronJobs. Tests check them against the schemas.
 */
import type * as pulumi from '@pulumi/pulumi'
import type * as k8s from '@pulumi/kubernetes'
import type { DrPolicy } from '../../core/policy.ts'
import { archiveTimeoutSeconds, diffsRetained } from '../../core/policy.ts'
import type { SiteConfig } from '../config.ts'
import type { ClusterTls } from './replication-tls.ts'
import { userSecretName as pgoUserSecretName } from '../../core/pgo.ts'

export interface RepoSpec {
  name: 'repo1' | 'repo2' | 'repo3'
  s3?: { bucket: pulumi.Input<string>; region: string; roleArn: pulumi.Input<string> }
  /** serviceAccount: the Google account PGO's pods act as through Workload Identity */
  gcs?: { bucket: pulumi.Input<string>; serviceAccount?: pulumi.Input<string> }
  /** repoN-path: PGO's default is /pgbackrest/repoN, which the vault's lifecycle rules would not match */
  path: string
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
  /**
   * hot: stream from this host (and replay from repoName when streaming breaks); warm: replay from
   * this repo. replayOnly: repos the standby reads and must stop writing to once promoted (a copy
   * of its primary's archive: a second timeline there would mix into what the cold site restores)
   */
  standby?: { host?: pulumi.Input<string>; repoName?: string; replayOnly?: RepoSpec['name'][] }
  /** the cipher pass shared by every site reading the same repo */
  cipherPass?: pulumi.Input<string>
  /** certificates from the CA shared by the clusters that stream to each other (replication-tls.ts) */
  tls?: ClusterTls
  /** each PGO user's password, one per stack chain: every cluster's Secret carries the same (defect N2) */
  userPasswords?: Record<PgoUserName, pulumi.Input<string>>
  stack: string
}

/**
 * The PostgreSQL users PGO keeps (spec.users replaces its default user; `postgres` stays
 * passwordless, reachable only by peer inside the pod, internal/postgres/hba.go):
 * - labdojo: the application, owner of its database;
 * - labdojo-dr: the runbooks (failover checks, restore points, WAL switches, erasure, proofs need a superuser);
 * - labdojo-monitor: the DR exporter, pg_monitor only (granted by INIT_SQL: PGO's options cannot grant roles).
 */
export const PGO_USERS = [
  { name: 'labdojo', databases: ['labdojo'] },
  { name: 'labdojo-dr', databases: ['labdojo'], options: 'SUPERUSER' },
  { name: 'labdojo-monitor', databases: ['labdojo'] },
] as const
export type PgoUserName = (typeof PGO_USERS)[number]['name']
/** the user the runbooks log in as (the inventory's nodes name it) */
export const DR_USER: PgoUserName = 'labdojo-dr'
export const MONITOR_USER: PgoUserName = 'labdojo-monitor'
/** PGO's Secret of a user (internal/naming/names.go) */
export const userSecretName = (user: PgoUserName) => pgoUserSecretName('labdojo', user)

/**
 * The application's tables live in its user's own schema (PGO's AutoCreateUserSchema: PostgreSQL
 * 15's public schema takes no CREATE from it): the runbooks' user finds them there, by a setting
 * of its role in that database, which travels with the data into every standby and restore.
 */
export const APP_SCHEMA: string = PGO_USERS[0].name
const APP_DATABASE: string = PGO_USERS[0].databases[0]

/**
 * spec.databaseInitSQL: PGO runs it once, with psql as postgres on the writable instance
 * (controller/postgrescluster/postgres.go reconcileDatabaseInitSQL), perhaps before its users
 * exist: the role is created here if missing, and the SQL can run twice.
 */
export const INIT_SQL_CONFIGMAP = { name: 'labdojo-init-sql', key: 'init.sql' }
export const INIT_SQL = `\\set ON_ERROR_STOP on
SELECT 'CREATE ROLE "${MONITOR_USER}" LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '${MONITOR_USER}')
\\gexec
GRANT pg_monitor TO "${MONITOR_USER}";
SELECT 'CREATE ROLE "${DR_USER}" LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '${DR_USER}')
\\gexec
SELECT 'CREATE DATABASE "${APP_DATABASE}"' WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = '${APP_DATABASE}')
\\gexec
ALTER ROLE "${DR_USER}" IN DATABASE "${APP_DATABASE}" SET search_path = "${APP_SCHEMA}", public;
`

export const PGO_GROUP = 'postgres-operator.crunchydata.com/v1beta1'

export function pgbackrestGlobal(policy: DrPolicy, repos: RepoSpec[]): Record<string, string> {
  const g: Record<string, string> = {
    'archive-async': 'y',
    'spool-path': '/pgdata/pgbackrest-spool',
    'compress-type': 'lz4',
    'process-max': '2',
    'start-fast': 'y',
    // pgBackRest 2.54 (PGO 5.7): from a standby when one answers, else the primary ('y' fails the
    // backup when none does: one instance, or after a promotion)
    'backup-standby': 'prefer',
  }
  for (const r of repos) {
    g[`${r.name}-path`] = r.path
    // block incremental (GA since 2.46): an incr after ~1% of rows changed stores that 1%, not whole files
    g[`${r.name}-bundle`] = 'y'
    g[`${r.name}-block`] = 'y'
    g[`${r.name}-cipher-type`] = 'aes-256-cbc'
    g[`${r.name}-retention-full-type`] = r.retentionFullType
    g[`${r.name}-retention-full`] = String(r.retentionFull)
    g[`${r.name}-retention-diff`] = String(diffsRetained(policy))
    if (r.s3) g[`${r.name}-s3-key-type`] = 'web-id'
    // GKE Workload Identity: the pods' Kubernetes account acts as a Google account (no key file)
    if (r.gcs) g[`${r.name}-gcs-key-type`] = 'auto'
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

export const INVENTORY_CONFIGMAP = 'labdojo-inventory'
export const INVENTORY_DIR = '/etc/labdojo'
/** PGO's user-secret keys -> libpq environment */
const PG_ENV = { host: 'PGHOST', port: 'PGPORT', user: 'PGUSER', password: 'PGPASSWORD', dbname: 'PGDATABASE' } as const

/** Names of the objects the spec refers to. */
export interface SpecNames {
  cipherSecret: pulumi.Input<string>
  /** the server and replication certificate Secrets, when the cluster streams across PGO installs */
  tls?: { server: pulumi.Input<string>; replication: pulumi.Input<string> }
}

/** The PostgresCluster spec: instances, Patroni settings, pgBackRest repos and schedules, standby, service. */
export function postgresClusterSpec(args: PostgresClusterArgs, names: SpecNames) {
  const sync = args.policy.sites.hot.replication === 'synchronous'
  const repos = args.repos.map((r) => ({
    name: r.name,
    ...(r.s3 ? { s3: { bucket: r.s3.bucket, endpoint: `s3.${r.s3.region}.amazonaws.com`, region: r.s3.region } } : {}),
    ...(r.gcs ? { gcs: { bucket: r.gcs.bucket } } : {}),
    ...(r.scheduled && !args.standby ? { schedules: schedulesFor(args.policy) } : {}),
  }))
  return {
    ...irsaMetadata(args),
    ...(names.tls
      ? { customTLSSecret: { name: names.tls.server }, customReplicationTLSSecret: { name: names.tls.replication } }
      : {}),
    postgresVersion: 15,
    users: PGO_USERS.map((u) => ({ ...u, databases: [...u.databases] })),
    // the standby clusters run it too once promoted: it is idempotent
    databaseInitSQL: INIT_SQL_CONFIGMAP,
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
        // strict: commits wait for a standby; else Patroni degrades at once when none is left
        synchronous_mode_strict: sync && args.config.instances > 1 && args.policy.sites.hot.syncFallback === 'never',
        postgresql: {
          // data checksums are not a parameter (read-only, set at initdb): PGO's initdb turns them on;
          // wal_level is PGO's own (it sets logical, mandatory): a value here would only mislead
          parameters: {
            archive_timeout: String(archiveTimeoutSeconds(args.policy)),
          },
        },
      },
    },
    backups: {
      pgbackrest: {
        configuration: [{ secret: { name: names.cipherSecret } }],
        global: pgbackrestGlobal(args.policy, args.repos),
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
    service: clusterService(args),
  }
}

/**
 * Reachable inside the network only: a LoadBalancer without the annotation is internet-facing. The
 * site endpoint (what the inventory and the standby clusters name) is bound to it by external-dns
 * (a prerequisite: external-dns in each cluster, writing the private zone; README).
 */
function clusterService(args: PostgresClusterArgs) {
  return {
    type: 'LoadBalancer',
    metadata: {
      annotations: {
        ...INTERNAL_LB[args.config.provider],
        ...(args.config.endpoint ? { [EXTERNAL_DNS_HOSTNAME]: args.config.endpoint } : {}),
      },
    },
  }
}

/** external-dns binds this name to the Service's address (kubernetes-sigs/external-dns, docs/annotations). */
export const EXTERNAL_DNS_HOSTNAME = 'external-dns.alpha.kubernetes.io/hostname'

export const INTERNAL_LB = {
  aws: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' },
  gcp: { 'networking.gke.io/load-balancer-type': 'Internal' },
} as const

/**
 * IRSA for pgBackRest: PGO 5.7 runs archive-push in the instance pods and backups on the repo
 * host, under service accounts it creates; they take their annotations from spec.metadata.
 */
function irsaMetadata(args: PostgresClusterArgs) {
  const s3 = args.repos.find((r) => r.s3)?.s3
  if (s3) return { metadata: { annotations: { 'eks.amazonaws.com/role-arn': s3.roleArn } } }
  const gcs = args.repos.find((r) => r.gcs)?.gcs
  if (gcs?.serviceAccount)
    return { metadata: { annotations: { 'iam.gke.io/gcp-service-account': gcs.serviceAccount } } }
  return {}
}

/** The exports our runbooks run on a schedule (the primary site only): name, cron, backup type. */
export function exportJobs(policy: DrPolicy) {
  return [
    ['logical-export', policy.schedules.logicalExport.cron, 'logical'],
    ['user-progress-export', policy.schedules.userProgressExport.cron, 'logical'],
  ] as const
}

/**
 * An export CronJob: the runbooks image runs backup.ts against the stack's inventory; the
 * database through PGO's user secret, the seal through ours, AWS through the service account.
 */
export function exportCronJob(
  args: PostgresClusterArgs,
  job: string,
  cron: string,
  type: string,
  namespace: pulumi.Input<string>,
  serviceAccount: pulumi.Input<string>,
): k8s.types.input.batch.v1.CronJob {
  return {
    metadata: { name: `labdojo-${job}`, namespace: namespace },
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
              serviceAccountName: serviceAccount,
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
                  env: exportEnv(),
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
  }
}

/** The database through PGO's user secret, the seal through ours (env, never argv). */
function exportEnv() {
  return [
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
  ]
}
