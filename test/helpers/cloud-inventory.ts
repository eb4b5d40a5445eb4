/**
 * A cloud stack's inventory (what `pulumi stack output inventory` gives the runbooks) for tests
 * whose "cloud" is this machine: nodes on 127.0.0.1, the endpoint a local port, Route53 names.
 */
export interface NodeSpec {
  name: string
  site: 'primary' | 'hot' | 'warm'
  role: 'primary' | 'standby'
  port: number
  /** the node's PGO cluster context (none: a test of what happens without one) */
  kubeContext?: string
}

const REGION = { primary: 'us-east-1', hot: 'us-west-2', warm: 'us-east-2' } as const

export function cloudInventory(o: {
  nodes: NodeSpec[]
  repos: object[]
  endpointPort: number
  stanza?: string
  endpoint?: Record<string, unknown>
}) {
  return {
    inventory: {
      stack: 'prod',
      provider: 'aws',
      sites: o.nodes.map((n) => ({ name: n.site, provider: 'aws', region: REGION[n.site], nodes: [n.name] })),
      nodes: o.nodes.map(({ kubeContext, ...n }) => ({
        ...n,
        host: '127.0.0.1',
        database: 'labdojo',
        user: 'postgres',
        ...(kubeContext ? { kubeContext } : {}),
        namespace: 'labdojo',
      })),
      pgbackrest: { stanza: o.stanza ?? 'db', repos: o.repos },
      buckets: [],
      keys: [],
      healthChecks: [],
      endpoint: {
        kind: 'route53',
        host: '127.0.0.1',
        port: o.endpointPort,
        database: 'labdojo',
        zoneId: 'ZTEST12345',
        recordName: 'db.labdojo.test',
        ...o.endpoint,
      },
    },
  }
}
