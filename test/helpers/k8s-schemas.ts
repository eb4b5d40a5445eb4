/**
 * The schemas of the Kubernetes objects the programs emit, by Pulumi type token: the Kubernetes
 * API types of `kubernetes-models` (ajv validators generated from the Kubernetes OpenAPI
 * document) and the Prometheus Operator's monitoring.coreos.com/v1 types (generated from its Go
 * API). PostgresCluster is checked against PGO's own CRD (schema.test.ts). They check types,
 * required fields, enums and patterns; unknown fields are caught at compile time instead (the
 * builders return the Pulumi input types, whose object literals tsc checks for excess keys).
 */
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { CronJob } from 'kubernetes-models/batch/v1/CronJob'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Namespace } from 'kubernetes-models/v1/Namespace'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role'
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import type { Recorded } from '../../infra/mocks.ts'
import { crdValidator, mergePatch, postgresClusterValidator } from '../../runbooks/lib/sites/twin/crd.ts'

export { crdValidator, mergePatch, postgresClusterValidator }

export const K8S_MODELS: Record<string, { new (o: any): { validate(): void } }> = {
  'kubernetes:apps/v1:Deployment': Deployment,
  'kubernetes:batch/v1:CronJob': CronJob,
  'kubernetes:core/v1:ConfigMap': ConfigMap,
  'kubernetes:core/v1:Namespace': Namespace,
  'kubernetes:core/v1:Secret': Secret,
  'kubernetes:core/v1:Service': Service,
  'kubernetes:core/v1:ServiceAccount': ServiceAccount,
  'kubernetes:rbac.authorization.k8s.io/v1:Role': Role,
  'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding': RoleBinding,
  'kubernetes:monitoring.coreos.com/v1:ServiceMonitor': ServiceMonitor,
  'kubernetes:monitoring.coreos.com/v1:PrometheusRule': PrometheusRule,
}

/** Pulumi's mock runtime records a secret as { <secret signature>: ..., value } */
const SECRET_SIG = '4dabf18193072939515e22adb298388d'
export const isSecret = (v: any) => !!v && typeof v === 'object' && SECRET_SIG in v
export const unsecret = (v: any) => (isSecret(v) ? v.value : v)

/** The object the API server would receive for a recorded resource (secrets unwrapped). */
export function asObject(r: Recorded): Record<string, unknown> {
  const { apiVersion, kind, metadata, spec, data, stringData, rules, roleRef, subjects } = r.inputs
  const all = { apiVersion, kind, metadata, spec, data, stringData: unsecret(stringData), rules, roleRef, subjects }
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined))
}

/** Every schema error of the recorded Kubernetes objects that have a model, one line each. */
export function schemaErrors(rs: Recorded[]): string[] {
  const errors: string[] = []
  for (const r of rs) {
    const Model = K8S_MODELS[r.type]
    if (!Model) continue
    try {
      new Model(asObject(r)).validate()
    } catch (e) {
      errors.push(`${r.name}: ${(e as Error).message}`)
    }
  }
  return errors
}

/** The smallest PostgresCluster PGO's CRD accepts, with more pgBackRest settings merged in (a patch under test). */
export function minimalPostgresCluster(pgbackrest: object = {}) {
  const volumeClaimSpec = { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }
  return {
    apiVersion: 'postgres-operator.crunchydata.com/v1beta1',
    kind: 'PostgresCluster',
    metadata: { name: 'labdojo' },
    spec: {
      postgresVersion: 15,
      instances: [{ name: 'a', dataVolumeClaimSpec: volumeClaimSpec }],
      backups: { pgbackrest: { repos: [{ name: 'repo1', volume: { volumeClaimSpec } }], ...pgbackrest } },
    },
  }
}

/** The minimal PostgresCluster with a merge patch applied (each patch a runbook sends is validated this way). */
export const patchedPostgresCluster = (patch: object) => mergePatch(minimalPostgresCluster(), patch)
