/**
 * Where the twin's parts live: one network namespace per site (its region), joined through a
 * router namespace (the WAN) to the workstation (the root namespace); addresses in a private
 * 10.x/16 derived from the base port, so two twins (two test files) never share one; and the
 * directories of every instance under the twin's state directory.
 */
import { join } from 'node:path'

export interface TwinInstance {
  name: string
  /** the pod's address (PostgreSQL :5432, Patroni's REST API :8008) */
  ip: string
  dir: string
  data: string
  socketDir: string
}

export interface TwinSiteLayout {
  site: string
  region: string
  /** the region's network namespace */
  ns: string
  /** the region's index in the WAN (its /24) */
  index: number
  /** the region side of the WAN link, and the namespace's own address (etcd) */
  gatewayIp: string
  hostIp: string
  /** the cluster's primary Service (a LoadBalancer in the cloud: the site endpoint) */
  serviceIp: string
  /** the in-cluster address of the cluster's API server (the `kubernetes` Service; in-cluster.ts) */
  apiIp: string
  dir: string
  instances: TwinInstance[]
}

export const PG_PORT = 5432

/** A cluster's server certificate (PGO's customTLSSecret: ca.crt, tls.crt, tls.key), its instances' addresses among its names. */
export const clusterTls = (s: { dir: string }) => ({
  ca: join(s.dir, 'tls', 'ca.crt'),
  cert: join(s.dir, 'tls', 'tls.crt'),
  key: join(s.dir, 'tls', 'tls.key'),
})
export const PATRONI_PORT = 8008
export const ETCD_PORT = 2379
export const AWS_API_PORT = 8080

/** The twin's /16: 10.(100 + hundreds of the base port mod 100).0.0 */
export const subnetOf = (basePort: number) => `10.${100 + (Math.floor(basePort / 100) % 100)}`

export interface TwinLayout {
  basePort: number
  stateDir: string
  subnet: string
  /** prefix of every namespace and root-side interface name */
  prefix: string
  wanNs: string
  /** the workstation's end of the WAN link, in the root namespace */
  rootIf: string
  rootIp: string
  wanIp: string
  sites: TwinSiteLayout[]
  pki: string
  /** the AWS stand-ins' API (CloudWatch, Route53), in the WAN namespace */
  awsApi: string
  /** the traffic endpoint: the failover record's name, as Route53 answers it */
  endpointIp: string
  /** Google's storage API stand-in (gcs-api.ts), in the WAN: GCS is a global endpoint */
  gcsIp: string
  inventoryFile: string
  secretsFile: string
  passFile: string
}

export function twinLayout(
  stateDir: string,
  basePort: number,
  sites: { site: string; region: string; replicas: number }[],
): TwinLayout {
  const subnet = subnetOf(basePort)
  const prefix = `ldt${Math.floor(basePort / 100) % 1000}`
  return {
    basePort,
    stateDir,
    subnet,
    prefix,
    wanNs: `${prefix}-wan`,
    rootIf: `${prefix}ws`,
    rootIp: `${subnet}.0.1`,
    wanIp: `${subnet}.0.2`,
    pki: join(stateDir, 'pki'),
    awsApi: `http://${subnet}.0.2:${AWS_API_PORT}`,
    endpointIp: `${subnet}.0.5`,
    gcsIp: `${subnet}.0.6`,
    inventoryFile: join(stateDir, 'inventory.json'),
    secretsFile: join(stateDir, 'rendered.json'),
    passFile: join(stateDir, 'pgpass'),
    sites: sites.map((s, i) => {
      const index = i + 1
      const dir = join(stateDir, s.site)
      return {
        site: s.site,
        region: s.region,
        ns: `${prefix}-${s.site}`,
        index,
        gatewayIp: `${subnet}.${index}.1`,
        hostIp: `${subnet}.${index}.2`,
        serviceIp: `${subnet}.${index}.5`,
        apiIp: `${subnet}.${index}.4`,
        dir,
        instances: Array.from({ length: s.replicas }, (_, k) => {
          const idir = join(dir, `${s.site}-${k}`)
          return {
            name: `${s.site}-${k}`,
            ip: `${subnet}.${index}.${10 + k}`,
            dir: idir,
            data: join(idir, 'pgdata'),
            socketDir: join(idir, 'run'),
          }
        }),
      }
    }),
  }
}

/**
 * Round trips between the stacks' regions, in ms: us-east-1 to us-west-2 was measured at about 55 ms
 * over VPC peering (dev.to/juanhcode, "AWS multi-region networking: what actually happens between
 * regions") and 87 ms in 2017 (acomputerscientistlearnsaws.blogspot.com, "AWS Regions", from
 * cloudping data): 65 ms, as issue 23 asks; us-east-1 to Europe west 80 ms (the same 2017 table:
 * N. Virginia to Ireland 80.5 ms); us-west-2 to Europe west 137 ms (Oregon to Ireland, same table).
 */
const REGION_RTT_MS: Record<string, number> = {
  'us-east-1|us-west-2': 65,
  'europe-west1|us-east-1': 80,
  'europe-west1|us-west-2': 137,
}
export const rttBetween = (a: string, b: string): number => REGION_RTT_MS[[a, b].sort().join('|')] ?? 0
