/** The Route53 adapter against a local receiver (the AWS API cannot be reached here). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:http'
import { route53Upsert, changeBatchXml, cloudDnsSwitch } from '../../runbooks/lib/adapters/dns.ts'

let server: Server
const got: { url: string; headers: Record<string, any>; body: string }[] = []
const PORT = 26950

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      got.push({ url: req.url!, headers: req.headers, body })
      if (req.url!.startsWith('/dns/v1/')) return void res.end(JSON.stringify({ id: '42', status: 'pending' }))
      res.setHeader('content-type', 'text/xml')
      res.end(
        '<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C123</Id><Status>PENDING</Status></ChangeInfo></ChangeResourceRecordSetsResponse>',
      )
    })
  })
  await new Promise<void>((r) => server.listen(PORT, '127.0.0.1', r))
})
afterAll(() => server.close())

const change = {
  zoneId: 'Z0123456789LABDOJO',
  recordName: 'db.labdojo.com',
  setIdentifier: 'primary' as const,
  failover: 'PRIMARY' as const,
  target: 'db-hot.usw2.labdojo.internal',
  ttl: 30,
}

describe('Route53 failover record switch', () => {
  it('UPSERTs the PRIMARY failover record to the promoted site, SigV4-signed', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIATEST', AWS_SECRET_ACCESS_KEY: 'secret-key-for-tests' }
    const id = await route53Upsert(change, 'failover primary -> hot', { endpoint: `http://127.0.0.1:${PORT}`, env })
    expect(id).toBe('/change/C123')
    const req = got.at(-1)!
    expect(req.url).toBe('/2013-04-01/hostedzone/Z0123456789LABDOJO/rrset/')
    expect(req.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIATEST\/\d{8}\/us-east-1\/route53\/aws4_request, SignedHeaders=.*host.*, Signature=[0-9a-f]{64}$/,
    )
    expect(req.body).toContain('<Action>UPSERT</Action>')
    expect(req.body).toContain('<Failover>PRIMARY</Failover>')
    expect(req.body).toContain('<Value>db-hot.usw2.labdojo.internal</Value>')
    expect(JSON.stringify(req.headers)).not.toContain('secret-key-for-tests')
  })

  it('refuses to run without credentials in the environment (exit-2 error naming the fix)', async () => {
    await expect(route53Upsert(change, 'x', { endpoint: `http://127.0.0.1:${PORT}`, env: {} })).rejects.toThrow(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/,
    )
  })

  it('escapes what it writes into the change batch', () => {
    expect(changeBatchXml({ ...change, target: 'a&b' }, '<c>')).toContain('<Value>a&amp;b</Value>')
  })
})

describe('Cloud DNS record switch', () => {
  it("replaces the record's target in one change, with the bearer token from the environment", async () => {
    const id = await cloudDnsSwitch(
      {
        project: 'labdojo-dr',
        zone: 'labdojo',
        recordName: 'db.labdojo.com',
        oldTarget: 'db-primary.use1.labdojo.internal',
        newTarget: 'db-warm.euw1.labdojo.internal',
        ttl: 30,
      },
      { endpoint: `http://127.0.0.1:${PORT}`, env: { GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.test-token' } },
    )
    expect(id).toBe('42')
    const req = got.at(-1)!
    expect(req.url).toBe('/dns/v1/projects/labdojo-dr/managedZones/labdojo/changes')
    expect(req.headers.authorization).toBe('Bearer ya29.test-token')
    expect(JSON.parse(req.body)).toEqual({
      deletions: [{ name: 'db.labdojo.com.', type: 'CNAME', ttl: 30, rrdatas: ['db-primary.use1.labdojo.internal.'] }],
      additions: [{ name: 'db.labdojo.com.', type: 'CNAME', ttl: 30, rrdatas: ['db-warm.euw1.labdojo.internal.'] }],
    })
  })
  it('refuses without a token', async () => {
    await expect(
      cloudDnsSwitch(
        { project: 'p', zone: 'z', recordName: 'r', oldTarget: 'a', newTarget: 'b', ttl: 30 },
        { env: {} },
      ),
    ).rejects.toThrow(/GOOGLE_OAUTH_ACCESS_TOKEN is not set/)
  })
})
