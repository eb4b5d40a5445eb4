/**
 * What the programs emit, against the real schema mocks cannot give: every PostgresCluster of
 * the prod and dr stacks validated against PGO 5.7.4's CRD (vendored under test/fixtures/, its
 * openAPIV3Schema through ajv). A field PGO does not know, a wrong type or a missing required
 * field is what `pulumi up` would hit on the cluster.
 */
import { describe, expect, it, vi } from 'vitest'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { runProgram } from '../helpers/infra.ts'
import { K8S_MODELS, crdValidator, minimalPostgresCluster, schemaErrors } from '../helpers/k8s-schemas.ts'

const CRD = parse(
  readFileSync(
    new URL('../fixtures/pgo-5.7.4/postgres-operator.crunchydata.com_postgresclusters.yaml', import.meta.url),
    'utf8',
  ),
)
const TYPE = 'kubernetes:postgres-operator.crunchydata.com/v1beta1:PostgresCluster'

const validate = crdValidator(CRD, 'v1beta1')

describe('the vendored CRD validates', () => {
  it('rejects what PGO rejects (a field it does not know, a wrong type, a missing required field)', () => {
    const ok = minimalPostgresCluster()
    expect(validate(ok), JSON.stringify(validate.errors)).toBe(true)
    expect(validate({ ...ok, spec: { ...ok.spec, postgresVersion: 'fifteen' } })).toBe(false)
    expect(validate({ ...ok, spec: { ...ok.spec, instances: undefined } })).toBe(false)
    const unknown = structuredClone(ok) as any
    unknown.spec.backups.pgbackrest.repos[0].bogus = true
    expect(validate(unknown)).toBe(false)
  })
})

describe.each(['prod', 'dr'] as const)('stack %s', (stack) => {
  it("every PostgresCluster validates against PGO 5.7.4's CRD, every other object against the Kubernetes schemas", async () => {
    vi.resetModules() // each stack's program runs in a fresh module graph
    const r = await runProgram(stack)
    const clusters = r.of(TYPE)
    expect(clusters.length).toBeGreaterThan(0)
    for (const c of clusters) {
      const obj = {
        apiVersion: c.inputs.apiVersion,
        kind: c.inputs.kind,
        metadata: c.inputs.metadata,
        spec: c.inputs.spec,
      }
      const ok = validate(obj)
      expect(
        ok
          ? []
          : validate.errors!.map(
              (e: { instancePath: string; message?: string; params: unknown }) =>
                `${c.name}${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`,
            ),
      ).toEqual([])
    }
    // every other Kubernetes object against the Kubernetes / Prometheus Operator schemas
    const k8s = r.recorded.filter((x) => x.type.startsWith('kubernetes:') && x.type !== TYPE)
    const unchecked = k8s.filter((x) => !K8S_MODELS[x.type]).map((x) => x.type)
    expect([...new Set(unchecked)]).toEqual(['kubernetes:helm.sh/v3:Release']) // a Pulumi construct, not an API object
    expect(k8s.some((x) => x.type === 'kubernetes:batch/v1:CronJob') || stack === 'dr').toBe(true)
    expect(schemaErrors(k8s)).toEqual([])
  })
})
