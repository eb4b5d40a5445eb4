/**
 * The twin's in-cluster API access (runbooks/lib/sites/twin/in-cluster.ts): RBAC as Kubernetes'
 * authorizer applies it, to the program's own Role and RoleBinding for the exporter
 * (infra/components/monitoring-manifests.ts); and the S3 gate's view of which object a request
 * stored, path-style and virtual-hosted (the exporter reaches AWS's names; replication follows).
 */
import { describe, expect, it } from 'vitest'
import { allowed } from '../../runbooks/lib/sites/twin/in-cluster.ts'
import type { Rendered } from '../../runbooks/lib/sites/twin/rendered.ts'
import { MONITOR_NAME, monitorRole, monitorRoleBinding } from '../../infra/components/monitoring-manifests.ts'
import { storedObject } from '../../runbooks/lib/adapters/s3rver-gate.ts'

const args = { site: 'primary', namespace: 'labdojo' } as Parameters<typeof monitorRole>[0]
const rendered = (roleOver: object = {}): Rendered => ({
  stack: 'prod',
  inventory: {} as Rendered['inventory'],
  objects: [
    {
      type: 'kubernetes:rbac.authorization.k8s.io/v1:Role',
      name: 'primary-monitoring-role',
      object: { ...monitorRole(args), ...roleOver } as never,
    },
    {
      type: 'kubernetes:rbac.authorization.k8s.io/v1:RoleBinding',
      name: 'primary-monitoring-role-binding',
      object: monitorRoleBinding(args) as never,
    },
  ],
})
const req = (verb: string, user = `system:serviceaccount:labdojo:${MONITOR_NAME}`, namespace = 'labdojo') => ({
  user,
  namespace,
  group: 'postgres-operator.crunchydata.com',
  resource: 'postgresclusters',
  verb,
})

describe("RBAC on the twin's in-cluster API, with the program's Role and RoleBinding", () => {
  it('the exporter may get its cluster, and nothing more', () => {
    expect(allowed(rendered(), 'primary', req('get'))).toBe(true)
    expect(allowed(rendered(), 'primary', req('patch'))).toBe(false)
    expect(allowed(rendered(), 'primary', req('list'))).toBe(false)
  })

  it('another account, another namespace or another site has no binding', () => {
    expect(allowed(rendered(), 'primary', req('get', 'system:serviceaccount:labdojo:default'))).toBe(false)
    expect(allowed(rendered(), 'primary', req('get', `system:serviceaccount:other:${MONITOR_NAME}`, 'other'))).toBe(
      false,
    )
    expect(allowed(rendered(), 'hot', req('get'))).toBe(false)
  })

  it('a Role without the verb grants nothing; a wildcard grants it', () => {
    const rules = (verbs: string[]) => ({
      rules: [{ apiGroups: ['postgres-operator.crunchydata.com'], resources: ['postgresclusters'], verbs }],
    })
    expect(allowed(rendered(rules(['list'])), 'primary', req('get'))).toBe(false)
    expect(allowed(rendered(rules(['*'])), 'primary', req('patch'))).toBe(true)
  })
})

describe('the object an S3 request stored (what replication copies)', () => {
  it('path-style and virtual-hosted (bucket.s3.<region>.amazonaws.com, the default of pgBackRest)', () => {
    expect(storedObject('PUT', '/b/archive/db/x.gz')).toEqual({ bucket: 'b', key: 'archive/db/x.gz' })
    expect(storedObject('PUT', '/archive/db/x.gz', 'b.s3.us-east-1.amazonaws.com')).toEqual({
      bucket: 'b',
      key: 'archive/db/x.gz',
    })
    expect(storedObject('PUT', '/archive/a%20b', 'b.s3.us-east-1.amazonaws.com:443')).toEqual({
      bucket: 'b',
      key: 'archive/a b',
    })
    expect(storedObject('POST', '/k?uploadId=1', 'b.s3.us-west-2.amazonaws.com')).toEqual({ bucket: 'b', key: 'k' })
  })

  it('a part upload, a read or a bucket-level request stores nothing', () => {
    expect(storedObject('PUT', '/k?partNumber=1&uploadId=1', 'b.s3.us-east-1.amazonaws.com')).toBeNull()
    expect(storedObject('GET', '/k', 'b.s3.us-east-1.amazonaws.com')).toBeNull()
    expect(storedObject('PUT', '/', 'b.s3.us-east-1.amazonaws.com')).toBeNull()
    expect(storedObject('PUT', '/b')).toBeNull()
  })
})
