import { describe, expect, it } from 'vitest'
import { parseInventory, type Inventory } from '../../core/inventory.ts'
import { InputError } from '../../core/errors.ts'

const good = (): Inventory => ({
  stack: 'prod',
  provider: 'aws',
  sites: [{ name: 'primary', provider: 'aws', region: 'us-east-1', nodes: ['pg-a'] }],
  nodes: [
    {
      name: 'pg-a',
      site: 'primary',
      role: 'primary',
      host: 'db-a.internal',
      port: 5432,
      database: 'labdojo',
      user: 'postgres',
    },
    {
      name: 'pg-b',
      site: 'hot',
      role: 'standby',
      host: 'db-b.internal',
      port: 5432,
      database: 'labdojo',
      user: 'postgres',
    },
  ],
  pgbackrest: {
    stanza: 'labdojo',
    repos: [{ index: 1, type: 's3', path: '/pgbackrest', bucket: 'labdojo-backups', encrypted: true, site: 'primary' }],
  },
  buckets: [],
  keys: [],
  endpoint: {
    kind: 'route53',
    host: 'db.labdojo.com',
    port: 5432,
    database: 'labdojo',
    zoneId: 'Z1',
    recordName: 'db.labdojo.com',
  },
  healthChecks: [],
})

function problems(mutate: (i: any) => void) {
  const inv = good() as any
  mutate(inv)
  try {
    parseInventory(inv, 'test.json')
  } catch (e) {
    expect(e).toBeInstanceOf(InputError)
    return (e as InputError).problems.map((p) => p.key)
  }
  throw new Error('accepted')
}

describe('the inventory contract', () => {
  it('accepts a complete cloud inventory', () => {
    expect(parseInventory(good(), 'x').nodes).toHaveLength(2)
  })
  it('accepts a DR-only stack without a primary of its own', () => {
    const inv = good()
    inv.nodes = inv.nodes.filter((n) => n.role !== 'primary')
    expect(parseInventory(inv, 'dr').nodes).toHaveLength(1)
  })
  it('rejects two nodes provisioned as primary', () => {
    expect(problems((i) => (i.nodes[1].role = 'primary'))).toContain('inventory.nodes')
  })
  it('rejects a port out of range and an unknown site', () => {
    expect(problems((i) => ((i.nodes[0].port = 70000), (i.nodes[1].site = 'moon')))).toEqual(
      expect.arrayContaining(['inventory.nodes[0].port', 'inventory.nodes[1].site']),
    )
  })
  it('rejects a DNS endpoint without a zone', () => {
    expect(problems((i) => delete i.endpoint.zoneId)).toContain('inventory.endpoint')
  })
  it('rejects a repo of an unknown type', () => {
    expect(problems((i) => (i.pgbackrest.repos[0].type = 'sftp'))).toContain('inventory.pgbackrest.repos[0].type')
  })
  it('rejects something that is not an object', () => {
    expect(() => parseInventory('nope', 'x')).toThrow(InputError)
  })
})

describe('the inventory contract is strict: what reaches a command line, a path or a connection is checked', () => {
  it.each([
    [
      'a field the contract does not have',
      (i: any) => (i.nodes[0].sshCommand = 'ssh root@x'),
      'inventory.nodes[0].sshCommand',
    ],
    ['a top-level extra', (i: any) => (i.extra = 1), 'inventory.extra'],
    [
      'a stanza that climbs out of the repo',
      (i: any) => (i.pgbackrest.stanza = '../../etc'),
      'inventory.pgbackrest.stanza',
    ],
    [
      'a node name carrying a shell command',
      (i: any) => (i.nodes[0].name = 'pg1; rm -rf /'),
      'inventory.nodes[0].name',
    ],
    ['a host with a space', (i: any) => (i.nodes[0].host = 'db a'), 'inventory.nodes[0].host'],
    ['a user with a quote', (i: any) => (i.nodes[0].user = "x' OR 1"), 'inventory.nodes[0].user'],
    [
      'a repo path with ..',
      (i: any) => (i.pgbackrest.repos[0].path = '/pgbackrest/../../etc'),
      'inventory.pgbackrest.repos[0].path',
    ],
    [
      'a relative repo path',
      (i: any) => (i.pgbackrest.repos[0].path = 'pgbackrest'),
      'inventory.pgbackrest.repos[0].path',
    ],
  ])('refuses %s, naming the field', (_, mutate, key) => {
    expect(problems(mutate)).toContain(key)
  })
  it.each([null, [], 'inventory', 42])('refuses %j as an inventory with a message, never a TypeError', (raw) => {
    expect(() => parseInventory(raw, 'x.json')).toThrow(InputError)
  })
})
