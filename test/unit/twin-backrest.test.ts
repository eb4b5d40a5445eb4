/** The twin's named changes to PGO's pgBackRest configuration (runbooks/lib/sites/twin/backrest.ts). */
import { describe, expect, it } from 'vitest'
import { twinCompatibility, twinPodPaths, twinStorage } from '../../runbooks/lib/sites/twin/backrest.ts'

describe("the twin's rewrites of PGO's pgBackRest configuration", () => {
  it("each S3 repo at its region's server, path-style, the twin's CA and key in place of IRSA's web identity; a GCS repo gets the CA only", () => {
    const g: Record<string, string> = {
      'repo1-s3-endpoint': 's3.us-east-1.amazonaws.com',
      'repo1-s3-key-type': 'web-id',
    }
    twinStorage(
      g,
      [
        { name: 'repo1', s3: { bucket: 'b', endpoint: 's3.us-east-1.amazonaws.com', region: 'us-east-1' } },
        { name: 'repo2', gcs: { bucket: 'g' } },
      ],
      (region) => (region === 'us-east-1' ? 'https://10.1.1.2:9000' : undefined),
      '/pki/ca.crt',
    )
    expect(g).toEqual({
      'repo1-s3-endpoint': '10.1.1.2',
      'repo1-storage-port': '9000',
      'repo1-s3-uri-style': 'path',
      'repo1-storage-ca-file': '/pki/ca.crt',
      'repo1-s3-key-type': 'shared',
      // GCS keeps Google's endpoint (the hosts files) and Workload Identity; only the CA is the twin's
      'repo2-storage-ca-file': '/pki/ca.crt',
    })
    expect(() =>
      twinStorage(
        {},
        [{ name: 'repo1', s3: { bucket: 'b', endpoint: 'e', region: 'eu-west-9' } }],
        () => undefined,
        '/ca',
      ),
    ).toThrow(/no region eu-west-9 for repo1/)
  })
  it('pgBackRest 2.45: backup-standby=prefer as n, beta for block incremental; nothing else touched', () => {
    const g = { 'backup-standby': 'prefer', 'repo2-block': 'y', 'start-fast': 'y' }
    twinCompatibility(g)
    expect(g).toEqual({ 'backup-standby': 'n', 'repo2-block': 'y', 'start-fast': 'y', beta: 'y' })
    const h: Record<string, string> = { 'backup-standby': 'y' }
    twinCompatibility(h)
    expect(h).toEqual({ 'backup-standby': 'y' })
  })
  it("a pod's /pgdata paths under the instance's directory", () => {
    const g = { 'spool-path': '/pgdata/pgbackrest-spool', 'repo1-path': '/pgbackrest/x' }
    twinPodPaths(g, '/twin/primary-0')
    expect(g).toEqual({ 'spool-path': '/twin/primary-0/pgbackrest-spool', 'repo1-path': '/pgbackrest/x' })
  })
})
