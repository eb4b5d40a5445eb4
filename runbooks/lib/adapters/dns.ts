/**
 * The DNS adapter for cloud stacks: Route53's ChangeResourceRecordSets (REST/XML, SigV4-signed
 * with @smithy/signature-v4; the AWS SDK's Route53 client is not in this registry), used to fence
 * a failed primary and point the failover record at the promoted site. The endpoint is
 * configurable so tests drive a local receiver; credentials come from the environment only.
 */
import { SignatureV4 } from '@smithy/signature-v4'
import { Sha256 } from '@aws-crypto/sha256-js'
import { inputError } from '../../../core/errors.ts'
import { registerSecret } from '../output/redact.ts'
import { awsCredentials } from './aws-credentials.ts'

export interface DnsChange {
  zoneId: string
  recordName: string
  /** the failover record to rewrite */
  setIdentifier: 'primary' | 'hot'
  failover: 'PRIMARY' | 'SECONDARY'
  target: string
  ttl: number
  healthCheckId?: string
}

export function changeBatchXml(c: DnsChange, comment: string): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  return `<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <ChangeBatch>
    <Comment>${esc(comment)}</Comment>
    <Changes>
      <Change>
        <Action>UPSERT</Action>
        <ResourceRecordSet>
          <Name>${esc(c.recordName)}</Name>
          <Type>CNAME</Type>
          <SetIdentifier>${c.setIdentifier}</SetIdentifier>
          <Failover>${c.failover}</Failover>
          <TTL>${c.ttl}</TTL>
          <ResourceRecords><ResourceRecord><Value>${esc(c.target)}</Value></ResourceRecord></ResourceRecords>${c.healthCheckId ? `\n          <HealthCheckId>${esc(c.healthCheckId)}</HealthCheckId>` : ''}
        </ResourceRecordSet>
      </Change>
    </Changes>
  </ChangeBatch>
</ChangeResourceRecordSetsRequest>`
}

export interface Route53Options {
  endpoint?: string
  env?: NodeJS.ProcessEnv
}

/** UPSERT one failover record; returns Route53's change id. */
export async function route53Upsert(c: DnsChange, comment: string, o: Route53Options = {}): Promise<string> {
  const env = o.env ?? process.env
  const credentials = await awsCredentials('us-east-1', env)
  const base = new URL(o.endpoint ?? env.LABDOJO_ROUTE53_ENDPOINT ?? 'https://route53.amazonaws.com')
  const path = `/2013-04-01/hostedzone/${encodeURIComponent(c.zoneId)}/rrset/`
  const body = changeBatchXml(c, comment)
  const signer = new SignatureV4({ service: 'route53', region: 'us-east-1', sha256: Sha256, credentials })
  const signed = await signer.sign({
    method: 'POST',
    protocol: base.protocol,
    hostname: base.hostname,
    port: base.port ? Number(base.port) : undefined,
    path,
    headers: { host: base.host, 'content-type': 'application/xml' },
    body,
  })
  const res = await fetch(new URL(path, base), {
    method: 'POST',
    headers: signed.headers as Record<string, string>,
    body,
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`Route53 ChangeResourceRecordSets failed (HTTP ${res.status}): ${text.slice(0, 300)}`)
  return /<Id>([^<]+)<\/Id>/.exec(text)?.[1] ?? 'unknown'
}

/**
 * Cloud DNS: replace a record set's target (one change: delete the old rrdata, add the new).
 * Token from GOOGLE_OAUTH_ACCESS_TOKEN (e.g. `gcloud auth print-access-token`), never argv.
 */
export async function cloudDnsSwitch(
  c: { project: string; zone: string; recordName: string; oldTarget: string; newTarget: string; ttl: number },
  o: { endpoint?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const env = o.env ?? process.env
  const token = env.GOOGLE_OAUTH_ACCESS_TOKEN
  if (!token)
    throw inputError(
      'GCP credentials',
      undefined,
      'GOOGLE_OAUTH_ACCESS_TOKEN is not set',
      'export GOOGLE_OAUTH_ACCESS_TOKEN="$(gcloud auth print-access-token)"',
    )
  registerSecret(token)
  const base = o.endpoint ?? env.LABDOJO_CLOUDDNS_ENDPOINT ?? 'https://dns.googleapis.com'
  const fqdn = c.recordName.endsWith('.') ? c.recordName : `${c.recordName}.`
  const rr = (target: string) => ({
    name: fqdn,
    type: 'CNAME',
    ttl: c.ttl,
    rrdatas: [target.endsWith('.') ? target : `${target}.`],
  })
  const res = await fetch(
    `${base}/dns/v1/projects/${encodeURIComponent(c.project)}/managedZones/${encodeURIComponent(c.zone)}/changes`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deletions: [rr(c.oldTarget)], additions: [rr(c.newTarget)] }),
      signal: AbortSignal.timeout(10_000),
    },
  )
  const text = await res.text()
  if (!res.ok) throw new Error(`Cloud DNS change failed (HTTP ${res.status}): ${text.slice(0, 300)}`)
  return (JSON.parse(text) as { id?: string }).id ?? 'unknown'
}
