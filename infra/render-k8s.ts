/**
 * `tsx infra/render-k8s.ts --stack prod`: run the program under the mock runtime (as `npm run
 * plan` does) and print, as JSON on stdout, what the twin runs: every PostgresCluster with the
 * Secrets and ConfigMaps beside it, and the exported inventory. RandomPasswords are real random
 * values here (the twin logs in with them); the output is a secret: the caller writes it 0600.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as pulumi from '@pulumi/pulumi'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { installMocks, PROD_OUTPUTS_FOR_DR, valueOf, type Recorded } from './mocks.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** the AWS objects the twin's stand-ins serve: the failover records, their health checks, the PrimaryUp alarm */
const TWIN_AWS = [
  'aws:route53/record:Record',
  'aws:route53/healthCheck:HealthCheck',
  'aws:cloudwatch/metricAlarm:MetricAlarm',
  'tls:index/certRequest:CertRequest',
  // the vaults' cross-region replication (s3-region.ts copies as S3 would)
  'aws:s3/bucketReplicationConfig:BucketReplicationConfig',
  // GCS (gcs-api.ts): its buckets, who may do what in them, Workload Identity, Storage Transfer
  'gcp:storage/bucket:Bucket',
  'gcp:storage/bucketIAMMember:BucketIAMMember',
  'gcp:serviceaccount/account:Account',
  'gcp:serviceaccount/iAMMember:IAMMember',
  'gcp:storage/transferJob:TransferJob',
]
const SECRET_SIG = '4dabf18193072939515e22adb298388d'

/** Pulumi wraps secret inputs ({<sig>: ..., value}); the twin needs the values. */
function unsecret(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unsecret)
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>
    if (SECRET_SIG in o) return unsecret(o.value)
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unsecret(x)]))
  }
  return v
}

const alnum = (n: number) =>
  [...randomBytes(n)].map((b) => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[b % 62]).join('')

const { values } = parseArgs({
  options: { stack: { type: 'string' }, 'prod-outputs': { type: 'string' } },
  strict: true,
})
const stack = values.stack
if (stack !== 'prod' && stack !== 'dr') {
  process.stderr.write(`error: --stack ${JSON.stringify(stack ?? null)}: must be prod or dr\n`)
  process.exit(2)
}
const recorded: Recorded[] = installMocks({
  stack,
  root: ROOT,
  // dr reads prod through a StackReference: prod's own rendered outputs when given (the twin of both stacks)
  stackOutputs:
    stack === 'dr'
      ? values['prod-outputs']
        ? (JSON.parse(readFileSync(values['prod-outputs'], 'utf8')) as Record<string, unknown>)
        : PROD_OUTPUTS_FOR_DR
      : {},
  randomPassword: alnum,
})
const program = await import('./index.ts')
const inventory = await valueOf(program.inventory)
// the stack's outputs, as `pulumi stack output --json --show-secrets` gives them
const outputs: Record<string, unknown> = {}
for (const [k, v] of Object.entries(program)) {
  if (k === 'inventory' || v === undefined || typeof v === 'function') continue
  outputs[k] = unsecret(pulumi.Output.isInstance(v) ? await valueOf(v as pulumi.Output<unknown>) : v)
}
await new Promise((r) => setTimeout(r, 100))
const objects = recorded
  .filter((r) => r.type.startsWith('kubernetes:') || TWIN_AWS.includes(r.type))
  .map((r) => ({ type: r.type, name: r.name, id: r.id, object: unsecret({ ...r.inputs, ...r.state }) }))
process.stdout.write(JSON.stringify({ stack, inventory, outputs, objects }) + '\n')
