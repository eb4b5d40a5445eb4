/**
 * The structure checks a proof ends with, each seen to fail on a real cluster broken the way it
 * names: a foreign-key orphan, a sequence behind its column, an index that no longer holds what
 * its heap says (found only with --heapallindexed), and a corrupt index page. A bare PostgreSQL
 * 15 cluster (data checksums on), no site: port 27950.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  chmodSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
  closeSync,
  chownSync,
} from 'node:fs'
import { join } from 'node:path'
import { run, type Runner } from '../../runbooks/lib/adapters/exec.ts'
import { Postgres, query, type Conn } from '../../runbooks/lib/adapters/postgres.ts'
import { siteIds } from '../../runbooks/lib/adapters/process.ts'
import { checkStructure, structureProblems } from '../../runbooks/lib/ops/verify/structure.ts'
import { portsOf } from '../helpers/ports.ts'

const PORT = portsOf('structure')
let base = ''
let data = ''
let conn: Conn & { database: string }
let runner: Runner
const pg = new Postgres(run)

beforeAll(async () => {
  base = mkdtempSync('/var/tmp/labdojo-test-structure-')
  chmodSync(base, 0o755)
  data = join(base, 'data')
  const { uid, gid } = siteIds()
  chownSync(base, uid, gid)
  await pg.initdb(data)
  await pg.start(data, join(base, 'log'), `-p ${PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${base}`)
  await pg.setPassword(base, PORT, 'structure-test')
  const passfile = join(base, 'pgpass')
  writeFileSync(passfile, `127.0.0.1:${PORT}:*:postgres:structure-test\n`, { mode: 0o600 })
  chownSync(passfile, uid, gid)
  conn = { host: '127.0.0.1', port: PORT, database: 'postgres', user: 'postgres', passfile }
  runner = (cmd, args, opts = {}) => run(cmd, args, { ...opts, env: { PGPASSFILE: passfile, ...opts.env } })
  await query(conn, 'CREATE DATABASE structure')
  conn = { ...conn, database: 'structure' }
  await query(
    conn,
    `CREATE TABLE parent (id bigserial PRIMARY KEY, name text NOT NULL);
     CREATE TABLE child (id bigserial PRIMARY KEY, parent_id bigint REFERENCES parent (id), note text);
     INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 2000) g;
     INSERT INTO child (parent_id, note) SELECT 1 + g % 2000, 'c' || g FROM generate_series(1, 5000) g;`,
  )
})

afterAll(async () => {
  if (data) await pg.stop(data, 'immediate').catch(() => {})
  if (base) rmSync(base, { recursive: true, force: true })
})

describe('checkStructure (pg_amcheck, foreign keys, sequences, checksums) on a real cluster', () => {
  it('finds nothing wrong in a sound database', async () => {
    const s = await checkStructure(runner, conn, { heapAllIndexed: true })
    expect(s).toEqual({ amcheck: [], foreignKeys: [], sequences: [], checksums: [] })
  })

  it('names a child row whose parent is gone (a foreign key the data no longer keeps)', async () => {
    // replica mode skips the foreign-key triggers, as a bad restore or a bug would
    await query(conn, `SET session_replication_role = replica; DELETE FROM parent WHERE id = 7`)
    const s = await checkStructure(runner, conn)
    expect(s.foreignKeys).toEqual([
      expect.stringMatching(/^\d+ row\(s\) of child have no parent \(foreign key child_parent_id_fkey\)$/),
    ])
    await query(conn, `INSERT INTO parent (id, name) VALUES (7, 'p7')`)
    expect((await checkStructure(runner, conn)).foreignKeys).toEqual([])
  })

  it('names a sequence set back below its column (the next insert would collide)', async () => {
    await query(conn, `SELECT setval('child_id_seq', 10)`)
    const s = await checkStructure(runner, conn)
    expect(s.sequences).toEqual([expect.stringMatching(/^sequence child_id_seq is at 10, below child\.id's max 5000/)])
    await query(conn, `SELECT setval('child_id_seq', (SELECT max(id) FROM child))`)
    expect((await checkStructure(runner, conn)).sequences).toEqual([])
  })

  it('an index that no longer matches its heap passes the B-tree checks and fails --heapallindexed', async () => {
    // an expression index over a function that claims to be immutable, then changes: the index
    // keeps the old values, in order; only a lookup of every heap row in it shows the difference
    await query(
      conn,
      `CREATE FUNCTION tag(t text) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT 'a' || t $$;
       CREATE INDEX child_tag ON child (tag(note));
       CREATE OR REPLACE FUNCTION tag(t text) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT 'b' || t $$;`,
    )
    expect((await checkStructure(runner, conn)).amcheck).toEqual([])
    const deep = await checkStructure(runner, conn, { heapAllIndexed: true })
    expect(deep.amcheck).toEqual([expect.stringMatching(/^pg_amcheck found corruption .*child_tag/)])
    expect(structureProblems(deep)).toHaveLength(1)
    await query(conn, 'DROP INDEX child_tag')
  })

  it('a flipped byte in an index page fails the check (its page checksum no longer matches)', async () => {
    const [r] = await query<{ f: string }>(conn, `SELECT pg_relation_filepath('child_pkey') AS f`)
    await pg.stop(data, 'fast')
    const file = join(data, r!.f)
    const fd = openSync(file, 'r+')
    const page = 8192 // block 1: a leaf page (block 0 is the metapage)
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, page + 4000)
    b[0] = b[0]! ^ 0xff
    writeSync(fd, b, 0, 1, page + 4000)
    closeSync(fd)
    await pg.start(
      data,
      join(base, 'log'),
      `-p ${PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${base}`,
    )
    const s = await checkStructure(runner, conn)
    expect(s.amcheck).toEqual([expect.stringMatching(/^pg_amcheck found corruption .*(checksum|invalid page)/)])
  })
})
