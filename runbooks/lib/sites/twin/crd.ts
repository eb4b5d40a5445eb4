/**
 * PGO 5.7.4's PostgresCluster CRD (vendored: test/fixtures/README.md) as a validator, and the JSON
 * merge patch the API server applies: what the twin's Kubernetes API stand-in checks every patch
 * with, and what the tests check the programs' objects with.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- a CRD's schema is untyped JSON */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { Ajv } from 'ajv'

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
      new URL(
        '../../../../test/fixtures/pgo-5.7.4/postgres-operator.crunchydata.com_postgresclusters.yaml',
        import.meta.url,
      ),
      'utf8',
    ),
  )
  return crdValidator(crd, 'v1beta1')
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
