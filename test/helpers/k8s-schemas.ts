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
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { Ajv } from 'ajv'

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

/** A CRD's structural schema, as ajv reads it: Kubernetes' own keywords are annotations. */
export function crdValidator(crd: any, version: string) {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false })
  ajv.addVocabulary([
    'x-kubernetes-int-or-string',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
    'x-kubernetes-validations',
    'x-kubernetes-embedded-resource',
  ])
  const schema = crd.spec.versions.find((v: any) => v.name === version).schema.openAPIV3Schema
  return ajv.compile(intOrString(schema))
}

/** `x-kubernetes-int-or-string` fields carry no type: allow both, as the API server does. */
function intOrString(s: any): any {
  if (Array.isArray(s)) return s.map(intOrString)
  if (!s || typeof s !== 'object') return s
  const out: any = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, intOrString(v)]))
  // the API server prunes (or, with strict field validation, refuses) fields the schema does not
  // name: either way the setting never reaches PGO, so an unknown field is an error here
  const open = out.additionalProperties !== undefined || out['x-kubernetes-preserve-unknown-fields']
  if (out.type === 'object' && out.properties && !open) out.additionalProperties = false
  if (out['x-kubernetes-int-or-string']) {
    delete out.type
    out.anyOf = [{ type: 'integer' }, { type: 'string' }]
  }
  return out
}

/** PGO 5.7.4's PostgresCluster CRD (vendored, see test/fixtures/README.md), as a validator. */
export function postgresClusterValidator() {
  const crd = parse(
    readFileSync(
      new URL('../fixtures/pgo-5.7.4/postgres-operator.crunchydata.com_postgresclusters.yaml', import.meta.url),
      'utf8',
    ),
  )
  return crdValidator(crd, 'v1beta1')
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

/** A JSON merge patch (RFC 7386) applied to a copy of `target`: what the API server stores. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as object) } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

/** The minimal PostgresCluster with a merge patch applied (each patch a runbook sends is validated this way). */
export const patchedPostgresCluster = (patch: object) => mergePatch(minimalPostgresCluster(), patch)
