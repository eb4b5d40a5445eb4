/**
 * Every test file's private ports, in one place: the files run in parallel, and two sites on one
 * range would stop each other's servers. A site takes base .. base+99 (its nodes, endpoint,
 * exporters, S3 store and scratch clusters); a file that needs ports beyond its site's takes
 * them from its own range (cloud-failover's stand-ins at base+50).
 */
export const TEST_PORTS = {
  'local-site (second site)': 23100,
  'cloud-stack': 24200,
  files: 24400,
  'restore-interrupts': 24600,
  'failover-interrupts': 24800,
  erasure: 25500,
  'sync-guard': 25600,
  monitoring: 25700,
  drill: 25800,
  schedule: 25900,
  'local-site': 26000,
  'backup-restore': 26100,
  failover: 26200,
  'cloud-failover': 26400,
  'cloud-export': 26600,
  verify: 26900,
  's3-gate': 27100,
  'bad-input': 27200,
  windows: 27300,
  'probe-tls': 27600,
  twin: 27700,
  'twin-restore': 27800,
  structure: 27950,
  'twin-dr': 28100,
} as const

export type TestFile = keyof typeof TEST_PORTS

/** The base port of a test file's range. */
export const portsOf = (file: TestFile): number => TEST_PORTS[file]
