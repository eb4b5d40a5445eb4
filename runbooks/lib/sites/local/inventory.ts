/** The local site described by the inventory contract (core/inventory.ts), from its state. */
import type { Inventory } from '../../../../core/inventory.ts'
import { BUCKET, DATABASE, NODE_NAMES, NODE_SITE, STANZA, type Layout, type NodeName } from './layout.ts'
import type { SiteState } from './state.ts'

export function siteInventory(layout: Layout, state: SiteState): Inventory {
  const node = (n: NodeName) => ({
    name: n,
    site: NODE_SITE[n],
    role: n === state.primary ? ('primary' as const) : ('standby' as const),
    host: '127.0.0.1',
    port: layout.ports[n],
    database: DATABASE,
    user: 'postgres',
    dataDir: layout.node(n).data,
  })
  const siteOf = (name: 'primary' | 'hot' | 'warm' | 'cold') => ({
    name,
    provider: 'local' as const,
    region: '127.0.0.1',
    nodes: NODE_NAMES.filter((n) => NODE_SITE[n] === name),
  })
  return {
    stack: 'local',
    provider: 'local',
    sites: [siteOf('primary'), siteOf('hot'), siteOf('warm'), siteOf('cold')],
    nodes: NODE_NAMES.map(node),
    pgbackrest: { stanza: STANZA, configPath: layout.pgbackrest.conf, repos: siteRepos(layout) },
    buckets: [
      {
        name: BUCKET,
        provider: 'local',
        region: 'us-east-1',
        purpose: 'offsite',
        versioning: false,
        objectLockDays: 0,
      },
    ],
    keys: [
      { id: `file:${layout.secrets.pgbackrest}`, provider: 'local', purpose: 'repo2 cipher pass', rotationDays: 0 },
    ],
    endpoint: {
      kind: 'pgbouncer',
      host: '127.0.0.1',
      port: layout.ports.endpoint,
      database: DATABASE,
      adminUser: 'postgres',
    },
    healthChecks: NODE_NAMES.map((n) => ({
      site: NODE_SITE[n],
      url: `postgresql://postgres@127.0.0.1:${layout.ports[n]}/postgres`,
    })),
  }
}

/** repo1: the local backup storage; repo2: the encrypted offsite S3 bucket, alone enough for the cold site. */
function siteRepos(layout: Layout): Inventory['pgbackrest']['repos'] {
  return [
    { index: 1, type: 'posix', path: layout.pgbackrest.repo1, encrypted: false, site: 'primary' },
    {
      index: 2,
      type: 's3',
      path: '/pgbackrest',
      bucket: BUCKET,
      endpoint: `127.0.0.1:${layout.ports.s3}`,
      region: 'us-east-1',
      encrypted: true,
      cipherPassRef: layout.secrets.pgbackrest,
      site: 'cold',
    },
  ]
}
