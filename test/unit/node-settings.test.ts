import { describe, expect, it } from 'vitest'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { configuredSyncStandbys, nodeConf, settingsForRole } from '../../runbooks/lib/sites/local/node-settings.ts'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

const site = layout('/srv/labdojo/.state/local', 25400, '/var/lib/postgresql')

describe('node settings by role (the one place that says what each role runs with)', () => {
  it('a primary archives and, in synchronous mode, waits for ANY 1 of its hot standbys', () => {
    const conf = nodeConf(
      site,
      settingsForRole(site, 'node1', 'primary', { primary: 'node1', syncStandbys: ['node2'] }),
    )
    expect(conf).toContain('port = 25401')
    expect(conf).toContain("cluster_name = 'node1'")
    expect(conf).toMatch(
      /archive_command = '\/srv\/labdojo\/.state\/local\/pgbackrest\/labdojo-pgbackrest-wal push \/srv\/labdojo\/.state\/local\/nodes\/node1\/data %p'/,
    )
    expect(conf).toContain("synchronous_standby_names = 'ANY 1 (node2)'")
    expect(conf).not.toMatch(/primary_conninfo|primary_slot_name|archive_mode/)
  })

  it('a primary with no standby named is asynchronous (an empty synchronous set)', () => {
    const conf = nodeConf(site, settingsForRole(site, 'node2', 'primary', { primary: 'node2' }))
    expect(conf).toContain("synchronous_standby_names = ''")
  })

  it('a hot standby streams from the primary over a slot named after itself', () => {
    const conf = nodeConf(site, settingsForRole(site, 'node2', 'hot', { primary: 'node3' }))
    expect(conf).toMatch(
      /^primary_conninfo = 'host=127\.0\.0\.1 port=25403 user=postgres passfile=\S+\/pgpass application_name=node2 connect_timeout=2'$/m,
    )
    expect(conf).toContain("primary_slot_name = 'node2'")
    expect(conf).toContain("synchronous_standby_names = ''")
  })

  it('a warm standby only restores from the archive, synchronously', () => {
    const conf = nodeConf(site, settingsForRole(site, 'node3', 'warm', { primary: 'node1' }))
    expect(conf).toMatch(/restore_command = 'pgbackrest .* --archive-async=n archive-get %f "%p"'/)
    expect(conf).not.toMatch(/primary_conninfo|primary_slot_name/)
  })

  it('a fenced node never archives, should anyone start it by hand', () => {
    const conf = nodeConf(site, settingsForRole(site, 'node1', 'fenced', { primary: 'node2' }))
    expect(conf).toMatch(/^archive_mode = off/m)
    expect(conf).toMatch(/^default_transaction_read_only = on/m)
    expect(conf).not.toMatch(/primary_conninfo/)
  })

  it('every role keeps its own port and name whoever the primary is', () => {
    for (const role of ['primary', 'hot', 'warm', 'fenced'] as const) {
      const o = settingsForRole(site, 'node3', role, { primary: 'node1' })
      expect(o).toMatchObject({ name: 'node3', port: 25403, dataDir: '/srv/labdojo/.state/local/nodes/node3/data' })
    }
  })

  it('reads back the synchronous standbys it wrote (the one reader of node.conf beside its writer)', () => {
    const dir = mkdtempSync('/tmp/labdojo-node-settings-')
    try {
      const l = layout(dir, 25400, '/var/lib/postgresql')
      const conf = l.node('node1').conf
      mkdirSync(dirname(conf), { recursive: true })
      const write = (sync: string[]) =>
        writeFileSync(
          conf,
          nodeConf(l, settingsForRole(l, 'node1', 'primary', { primary: 'node1', syncStandbys: sync })),
        )
      write(['node2', 'node3'])
      expect(configuredSyncStandbys(l, 'node1')).toEqual(['node2', 'node3'])
      write([])
      expect(configuredSyncStandbys(l, 'node1')).toEqual([])
      expect(configuredSyncStandbys(l, 'node2')).toEqual([]) // no node.conf yet
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
