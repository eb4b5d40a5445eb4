/** The pgBackRest settings of a cloud repo: S3 or GCS, never a secret among them. */
import { describe, expect, it } from 'vitest'
import { repoSecrets, repoSettings } from '../../runbooks/lib/sites/cloud/repos.ts'
import type { Repo } from '../../core/inventory.ts'

const gcs: Repo = {
  index: 1,
  type: 'gcs',
  path: '/pgbackrest/labdojo/repo1',
  bucket: 'labdojo-warm',
  encrypted: true,
  site: 'warm',
}

describe('repoSettings / repoSecrets', () => {
  it('a GCS repo is read with Workload Identity inside a pod (key type auto), or a key file named by the environment', () => {
    expect(repoSettings(gcs, {})).toEqual([
      'repo1-type=gcs',
      'repo1-path=/pgbackrest/labdojo/repo1',
      'repo1-gcs-bucket=labdojo-warm',
      'repo1-gcs-key-type=auto',
      'repo1-cipher-type=aes-256-cbc',
    ])
    expect(repoSettings(gcs, { LABDOJO_GCS_KEY_FILE: '/secrets/gcs.json' })).toEqual(
      expect.arrayContaining(['repo1-gcs-key-type=service', 'repo1-gcs-key=/secrets/gcs.json']),
    )
  })

  it('a GCS repo needs no AWS keys, only the cipher pass (named when missing)', () => {
    expect(repoSecrets([gcs], { LABDOJO_REPO_CIPHER_PASS: 'p'.repeat(40) })).toEqual({
      PGBACKREST_REPO1_CIPHER_PASS: 'p'.repeat(40),
    })
    expect(() => repoSecrets([gcs], {})).toThrow(/LABDOJO_REPO_CIPHER_PASS/)
  })

  it('an S3 repo with web identity (IRSA in a pod) needs no static keys', () => {
    const s3: Repo = { ...gcs, type: 's3', region: 'us-east-1' }
    const env = { AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token', LABDOJO_REPO_CIPHER_PASS: 'x'.repeat(40) }
    expect(repoSettings(s3, env)).toContain('repo1-s3-key-type=web-id')
    expect(Object.keys(repoSecrets([s3], env))).toEqual(['PGBACKREST_REPO1_CIPHER_PASS'])
  })
})
