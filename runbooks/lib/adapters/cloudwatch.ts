/**
 * The CloudWatch adapter: PutMetricData (the Query API, SigV4-signed with @smithy/signature-v4;
 * the AWS SDK is not in this registry). The DR exporters publish whether they see the primary
 * answer as a primary, from inside each region's network: Route53's health checkers cannot
 * reach a private endpoint, so the failover record's health check reads the alarm on this
 * metric instead (infra/components/dns-failover.ts). The endpoint is configurable so tests
 * drive a local receiver; credentials come from the environment or the pod's web identity.
 */
import { SignatureV4 } from '@smithy/signature-v4'
import { Sha256 } from '@aws-crypto/sha256-js'
import { awsCredentials } from './aws-credentials.ts'

export interface MetricDatum {
  name: string
  value: number
  dimensions: Record<string, string>
}

/** The Query API body of one PutMetricData call. */
export function putMetricBody(namespace: string, data: MetricDatum[]): string {
  const p = new URLSearchParams({ Action: 'PutMetricData', Version: '2010-08-01', Namespace: namespace })
  data.forEach((d, i) => {
    const m = `MetricData.member.${i + 1}`
    p.set(`${m}.MetricName`, d.name)
    p.set(`${m}.Value`, String(d.value))
    p.set(`${m}.Unit`, 'None')
    Object.entries(d.dimensions).forEach(([k, v], j) => {
      p.set(`${m}.Dimensions.member.${j + 1}.Name`, k)
      p.set(`${m}.Dimensions.member.${j + 1}.Value`, v)
    })
  })
  return p.toString()
}

/** One signed Query API call; the response body. */
async function call(region: string, body: string, env: NodeJS.ProcessEnv, what: string): Promise<string> {
  const credentials = await awsCredentials(region, env)
  const base = new URL(env.LABDOJO_CLOUDWATCH_ENDPOINT ?? `https://monitoring.${region}.amazonaws.com`)
  const signer = new SignatureV4({ service: 'monitoring', region, sha256: Sha256, credentials })
  const signed = await signer.sign({
    method: 'POST',
    protocol: base.protocol,
    hostname: base.hostname,
    port: base.port ? Number(base.port) : undefined,
    path: '/',
    headers: { host: base.host, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  })
  const res = await fetch(new URL('/', base), {
    method: 'POST',
    headers: signed.headers as Record<string, string>,
    body,
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`CloudWatch ${what} failed (HTTP ${res.status}): ${text.slice(0, 300)}`)
  return text
}

export async function putMetricData(
  region: string,
  namespace: string,
  data: MetricDatum[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  await call(region, putMetricBody(namespace, data), env, 'PutMetricData')
}

/** An alarm's state (OK, ALARM, INSUFFICIENT_DATA) by DescribeAlarms; undefined when no such alarm. */
export async function alarmState(
  region: string,
  alarmName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const body = new URLSearchParams({
    Action: 'DescribeAlarms',
    Version: '2010-08-01',
    'AlarmNames.member.1': alarmName,
  })
  const text = await call(region, body.toString(), env, 'DescribeAlarms')
  return /<StateValue>([A-Z_]+)<\/StateValue>/.exec(text)?.[1]
}
