/** PGO 5.7's rules as the twin applies them (core/pgo.ts), each against the PGO source it cites. */
import { describe, expect, it } from 'vitest'
import {
  iniText,
  patroniDynamic,
  pgoBackrestInstanceConf,
  pgoDatabases,
  pgoHba,
  pgoParameters,
  pgoUsers,
  userSchemaStatements,
  promotionPatch,
  REPLAY_ONLY_ANNOTATION,
  standbyCluster,
  userSecret,
  writeUsersStatements,
  type PgoSpec,
} from '../../core/pgo.ts'

const spec = (over: Partial<PgoSpec> = {}): PgoSpec => ({ postgresVersion: 15, instances: [{ name: 'a' }], ...over })
const paths = { socketDir: '/s', tls: { cert: '/t/c', key: '/t/k', ca: '/t/ca' } }
const quote = { ident: (s: string) => `"${s}"`, literal: (s: string) => `'${s}'` }

describe('pg_hba (internal/postgres/hba.go)', () => {
  it('mandatory rules first: postgres by peer only, replication by certificate over TLS only', () => {
    expect(pgoHba(spec()).slice(0, 4)).toEqual([
      'local all "postgres" peer',
      'hostssl replication "_crunchyrepl" all cert',
      'hostssl "postgres" "_crunchyrepl" all cert',
      'host all "_crunchyrepl" all reject',
    ])
  })
  it('the default password rule (TLS only) only when the spec gives none; the spec rules replace it', () => {
    expect(pgoHba(spec()).at(-1)).toBe('hostssl all all all md5')
    const own = pgoHba(
      spec({
        patroni: { dynamicConfiguration: { postgresql: { pg_hba: ['hostssl all all 10.0.0.0/8 scram-sha-256'] } } },
      }),
    )
    expect(own.at(-1)).toBe('hostssl all all 10.0.0.0/8 scram-sha-256')
    expect(own).not.toContain('hostssl all all all md5')
  })
})

describe('parameters (internal/postgres/parameters.go)', () => {
  it('mandatory values win over the spec (wal_level logical, TLS on); defaults yield to it', () => {
    const p = pgoParameters(
      spec({
        patroni: {
          dynamicConfiguration: {
            postgresql: { parameters: { wal_level: 'replica', jit: 'on', archive_timeout: 60 } },
          },
        },
      }),
      paths,
    )
    expect(p).toMatchObject({
      wal_level: 'logical',
      ssl: 'on',
      ssl_cert_file: '/t/c',
      jit: 'on',
      archive_timeout: '60',
    })
    expect(pgoParameters(spec(), paths).password_encryption).toBe('scram-sha-256')
  })
})

describe('pgBackRest (internal/pgbackrest/postgres.go, config.go)', () => {
  const repos = {
    backups: {
      pgbackrest: {
        global: { 'repo1-path': '/pgbackrest/labdojo/repo1', 'archive-async': 'n' },
        repos: [
          { name: 'repo1', s3: { bucket: 'b1', endpoint: 's3.us-east-1.amazonaws.com', region: 'us-east-1' } },
          { name: 'repo2', gcs: { bucket: 'g2' } },
        ],
      },
    },
  }
  it('archives through pgBackRest to every repo; restores from any repo, or from standby.repoName only', () => {
    const p = pgoParameters(
      spec({
        ...repos,
        patroni: {
          dynamicConfiguration: { postgresql: { parameters: { archive_mode: 'off', archive_timeout: '5min' } } },
        },
      }),
      paths,
    )
    expect(p).toMatchObject({
      archive_mode: 'on',
      archive_command: 'pgbackrest --stanza=db archive-push "%p"',
      restore_command: 'pgbackrest --stanza=db archive-get %f "%p"',
      archive_timeout: '5min',
    })
    expect(pgoParameters(spec(repos), paths).archive_timeout).toBe('60s')
    const standby = spec({ ...repos, standby: { enabled: true, host: 'h', repoName: 'repo2' } })
    expect(pgoParameters(standby, paths).restore_command).toBe('pgbackrest --stanza=db archive-get %f "%p" --repo=2')
    expect(pgoParameters(spec(), paths).archive_command).toBeUndefined()
  })
  it("an instance's configuration: each repo's storage and default path, spec.global over them, the local PostgreSQL as pg1", () => {
    const ini = pgoBackrestInstanceConf(spec({ ...repos, port: 5433 }), {
      pgData: '/d',
      socketDir: '/s',
      spool: '/sp',
      log: '/l',
    })
    expect(ini.global).toMatchObject({
      'repo1-type': 's3',
      'repo1-s3-bucket': 'b1',
      'repo1-s3-endpoint': 's3.us-east-1.amazonaws.com',
      'repo1-s3-region': 'us-east-1',
      'repo1-path': '/pgbackrest/labdojo/repo1',
      'repo2-type': 'gcs',
      'repo2-path': '/pgbackrest/repo2',
      'archive-async': 'n',
      'spool-path': '/sp',
    })
    expect(ini.db).toEqual({ 'pg1-path': '/d', 'pg1-port': '5433', 'pg1-socket-path': '/s' })
    expect(iniText({ a: { x: '1' }, b: { y: '2' } })).toBe('[a]\nx=1\n\n[b]\ny=2\n')
  })
})

describe('Patroni (internal/patroni/config.go)', () => {
  it('no replication slots, pg_rewind on, the CRD default lease and loop', () => {
    const d = patroniDynamic(spec(), {}, []) as { postgresql: Record<string, unknown>; ttl: number; loop_wait: number }
    expect(d.postgresql).toMatchObject({ use_slots: false, use_pg_rewind: true })
    expect([d.ttl, d.loop_wait]).toEqual([30, 10])
  })
  it('a standby cluster streams from host (basebackup); replays from the repo only with repoName (pgbackrest first)', () => {
    expect(standbyCluster(spec({ standby: { enabled: true, host: 'h', port: 5432 } }), 'restore')).toEqual({
      host: 'h',
      port: 5432,
      create_replica_methods: ['basebackup'],
    })
    expect(standbyCluster(spec({ standby: { enabled: true, host: 'h', repoName: 'repo1' } }), 'restore')).toEqual({
      host: 'h',
      restore_command: 'restore',
      create_replica_methods: ['pgbackrest', 'basebackup'],
    })
    expect(patroniDynamic(spec(), {}, []).standby_cluster).toBeUndefined()
  })
})

describe('users (controller/postgrescluster/postgres.go, internal/postgres/users.go)', () => {
  const make = { password: () => 'generated', verifier: (p: string) => `SCRAM(${p})` }
  const where = { host: 'svc', port: 5432 }
  it("keeps an existing Secret's password and builds a missing verifier from it; generates only when none", () => {
    expect(userSecret({ password: 'given' }, { name: 'u', databases: ['d'] }, where, make)).toMatchObject({
      password: 'given',
      verifier: 'SCRAM(given)',
      dbname: 'd',
    })
    expect(userSecret({ password: 'given', verifier: 'V' }, { name: 'u' }, where, make).verifier).toBe('V')
    expect(userSecret(undefined, { name: 'u' }, where, make)).toMatchObject({
      password: 'generated',
      verifier: 'SCRAM(generated)',
    })
  })
  it('no spec.users: one user and database named after the cluster; spec.users: exactly those', () => {
    expect(pgoUsers(spec(), 'labdojo')).toEqual([{ name: 'labdojo', databases: ['labdojo'] }])
    expect(
      pgoDatabases(
        spec({
          users: [
            { name: 'a', databases: ['x', 'y'] },
            { name: 'b', databases: ['x'] },
          ],
        }),
        'c',
      ),
    ).toEqual(['x', 'y'])
  })
  it('postgres is always LOGIN SUPERUSER on its own database; options cannot set a password', () => {
    const sql = writeUsersStatements(
      [
        { name: 'postgres', databases: ['app'] },
        { name: 'app', databases: ['app'], options: "PASSWORD 'x'" },
      ],
      { postgres: 'V1', app: 'V2' },
      quote,
    )
    expect(sql).toContain(`ALTER ROLE "postgres" WITH LOGIN SUPERUSER PASSWORD 'V1'`)
    expect(sql).toContain(`GRANT ALL PRIVILEGES ON DATABASE "postgres" TO "postgres"`)
    expect(sql).toContain(`ALTER ROLE "app" WITH  PASSWORD 'V2'`)
    expect(sql).toContain(`GRANT ALL PRIVILEGES ON DATABASE "app" TO "app"`)
  })
})

describe('promotion (PGO standby.enabled false; our replay-only repos)', () => {
  const cluster = (annotations?: Record<string, string>) => ({
    metadata: { annotations },
    spec: {
      backups: {
        pgbackrest: {
          repos: [
            { name: 'repo1', s3: { bucket: 'own', endpoint: 'e', region: 'r' } },
            { name: 'repo2', s3: { bucket: 'copy', endpoint: 'e', region: 'r' } },
          ],
          global: {
            'repo1-path': '/own',
            'repo2-path': '/copy',
            'repo2-s3-key-type': 'web-id',
            'repo12-path': '/x',
            'archive-async': 'y',
          },
        },
      },
    },
  })
  it('without replay-only repos: standby.enabled false, nothing else', () => {
    expect(promotionPatch(cluster())).toEqual({ spec: { standby: { enabled: false } } })
  })
  it('drops the replay-only repos and their options (null removes a key in a merge patch), in the same patch', () => {
    const p = promotionPatch(cluster({ [REPLAY_ONLY_ANNOTATION]: 'repo2' }))
    expect(p.spec).toEqual({
      standby: { enabled: false },
      backups: {
        pgbackrest: {
          repos: [{ name: 'repo1', s3: { bucket: 'own', endpoint: 'e', region: 'r' } }],
          global: { 'repo2-path': null, 'repo2-s3-key-type': null },
        },
      },
    })
  })
})

describe('user schemas (internal/postgres/users.go WriteUsersSchemasInPostgreSQL)', () => {
  it('a schema per user in each of its databases, owned by it; reserved names and users without databases skipped', () => {
    const out = userSchemaStatements(
      [{ name: 'app', databases: ['a', 'b'] }, { name: 'monitor', databases: ['a'] }, { name: 'nodb' }],
      (x) => `"${x}"`,
    )
    expect(out.map((x) => x.database)).toEqual(['a', 'b'])
    expect(out[0]!.sql).toBe(`SET search_path TO ''; CREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "app";`)
  })
})
