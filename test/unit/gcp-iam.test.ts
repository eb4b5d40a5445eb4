/**
 * The twin's Google IAM (runbooks/lib/sites/twin/gcp-iam.ts): tokens, GCS roles as Google documents
 * them (cloud.google.com/storage/docs/access-control/iam-roles), Workload Identity's two
 * conditions (the KSA annotation and the workloadIdentityUser binding).
 */
import { describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { mayAccess, mintToken, verifyToken, workloadAccount } from '../../runbooks/lib/sites/twin/gcp-iam.ts'

const secret = randomBytes(32)
const warm = 'labdojo-warm-pgbackrest@labdojo-dr.iam.gserviceaccount.com'

describe('access tokens', () => {
  it('verify with the key that minted them, until they expire', () => {
    const t = mintToken(secret, { email: warm, scope: 'read_write', exp: 2000 })
    expect(verifyToken(secret, t, 1000)).toEqual({ email: warm, scope: 'read_write', exp: 2000 })
    expect(verifyToken(secret, t, 2001)).toBeNull()
    expect(verifyToken(randomBytes(32), t, 1000)).toBeNull()
  })

  it('a token whose claims were edited (another account) is refused', () => {
    const t = mintToken(secret, { email: warm, scope: 'read_only', exp: 2000 })
    const [a, b, body, sig] = t.split('.')
    const other = Buffer.from(
      JSON.stringify({ email: 'owner@x.iam.gserviceaccount.com', scope: 'read_write', exp: 2000 }),
    ).toString('base64url')
    expect(body).not.toBe(other)
    expect(verifyToken(secret, [a, b, other, sig].join('.'), 1000)).toBeNull()
  })
})

describe('GCS roles on a bucket', () => {
  const bindings = [
    { bucket: 'warm', role: 'roles/storage.objectAdmin', member: `serviceAccount:${warm}` },
    { bucket: 'cold', role: 'roles/storage.objectViewer', member: 'serviceAccount:mon@p.iam.gserviceaccount.com' },
    {
      bucket: 'cold',
      role: 'roles/storage.legacyBucketWriter',
      member: 'serviceAccount:sts@p.iam.gserviceaccount.com',
    },
  ]
  const rw = (email: string) => ({ email, scope: 'read_write' as const })

  it('objectAdmin does everything in its bucket and nothing in another', () => {
    for (const a of ['list', 'get', 'create', 'delete'] as const)
      expect(mayAccess(bindings, [], rw(warm), 'warm', a)).toBe(true)
    expect(mayAccess(bindings, [], rw(warm), 'cold', 'list')).toBe(false)
  })

  it('objectViewer reads; legacyBucketWriter writes and lists but cannot read', () => {
    const mon = rw('mon@p.iam.gserviceaccount.com')
    expect([mayAccess(bindings, [], mon, 'cold', 'get'), mayAccess(bindings, [], mon, 'cold', 'create')]).toEqual([
      true,
      false,
    ])
    const sts = rw('sts@p.iam.gserviceaccount.com')
    expect([mayAccess(bindings, [], sts, 'cold', 'create'), mayAccess(bindings, [], sts, 'cold', 'get')]).toEqual([
      true,
      false,
    ])
  })

  it('a read-only token never writes, whatever the role; an owner does everything', () => {
    expect(mayAccess(bindings, [], { email: warm, scope: 'read_only' }, 'warm', 'create')).toBe(false)
    expect(
      mayAccess(
        bindings,
        ['serviceAccount:op@p.iam.gserviceaccount.com'],
        rw('op@p.iam.gserviceaccount.com'),
        'cold',
        'delete',
      ),
    ).toBe(true)
  })
})

describe('Workload Identity', () => {
  const bindings = [
    {
      serviceAccountId: `projects/labdojo-dr/serviceAccounts/${warm}`,
      role: 'roles/iam.workloadIdentityUser',
      member: 'serviceAccount:labdojo-dr.svc.id.goog[labdojo/labdojo-instance]',
    },
  ]

  it('an annotated service account with the binding acts as the Google account', () => {
    expect(
      workloadAccount(bindings, { namespace: 'labdojo', ksa: 'labdojo-instance', annotatedAccount: warm }),
    ).toEqual({
      email: warm,
    })
  })

  it('no annotation, or no binding for this namespace/account, acts as nobody', () => {
    expect(workloadAccount(bindings, { namespace: 'labdojo', ksa: 'labdojo-instance' })).toMatchObject({
      refused: expect.stringMatching(/no iam\.gke\.io\/gcp-service-account/),
    })
    expect(workloadAccount(bindings, { namespace: 'labdojo', ksa: 'default', annotatedAccount: warm })).toMatchObject({
      refused: expect.stringMatching(/does not grant .*labdojo\/default/),
    })
    expect(
      workloadAccount(bindings, { namespace: 'other', ksa: 'labdojo-instance', annotatedAccount: warm }),
    ).toMatchObject({
      refused: expect.any(String),
    })
  })
})
