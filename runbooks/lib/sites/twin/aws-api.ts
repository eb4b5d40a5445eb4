/**
 * The twin's stand-ins for CloudWatch and Route53, and the traffic endpoint Route53 answers for,
 * in one process inside the WAN namespace (every region and the workstation reach it; a region
 * cut off does not). Requests must be SigV4-signed with the twin's key (signature verified).
 * - CloudWatch (Query API): PutMetricData stores datapoints; DescribeAlarms evaluates the
 *   program's alarms from them (core/cloudwatch-alarm.ts).
 * - Route53: ChangeResourceRecordSets UPSERTs the program's failover records; a record's health
 *   check is its CloudWatch alarm (OK healthy, ALARM not, INSUFFICIENT_DATA: last known status).
 * - The endpoint (the failover record's name, db.labdojo.com): each new connection goes where
 *   Route53 would answer now, resolved by this namespace's hosts file.
 * It is the one writer of <state>/aws/records.json.
 * usage: tsx aws-api.ts STATE_DIR API_IP API_PORT ENDPOINT_IP ENDPOINT_PORT
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the rendered objects are untyped JSON, read field by field */
import { readBody } from './processes.ts'
import { createServer as createHttp, type ServerResponse } from 'node:http'
import { createServer as createTcp, connect } from 'node:net'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { lookup } from 'node:dns/promises'
import { verifySigV4 } from '../../adapters/sigv4-verify.ts'
import {
  alarmState,
  failoverAnswer,
  type AlarmSpec,
  type AlarmState,
  type Datapoint,
  type FailoverRecord,
} from '../../../../core/cloudwatch-alarm.ts'

const [stateDir, apiIp, apiPort, endpointIp, endpointPort] = process.argv.slice(2)
const dir = join(stateDir!, 'aws')
const rendered = JSON.parse(readFileSync(join(stateDir!, 'rendered.json'), 'utf8')) as {
  objects: { type: string; name: string; id?: string; object: Record<string, any> }[]
}
const key = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as {
  accessKeyId: string
  secretAccessKey: string
}
const of = (type: string) => rendered.objects.filter((o) => o.type === type)

const alarms: AlarmSpec[] = of('aws:cloudwatch/metricAlarm:MetricAlarm').map((o) => ({
  ...(o.object as AlarmSpec),
  name: o.object.name,
}))
const healthChecks = new Map(of('aws:route53/healthCheck:HealthCheck').map((o) => [o.id!, o.object]))
const recordsFile = join(dir, 'records.json')
let records: FailoverRecord[] = existsSync(recordsFile)
  ? (JSON.parse(readFileSync(recordsFile, 'utf8')) as FailoverRecord[])
  : of('aws:route53/record:Record').map((o) => ({
      name: o.object.name,
      setIdentifier: o.object.setIdentifier,
      failover: o.object.failoverRoutingPolicies[0].type,
      value: o.object.records[0],
      ...(o.object.healthCheckId ? { healthCheckId: o.object.healthCheckId } : {}),
    }))
const points: Datapoint[] = []
const states = new Map<string, AlarmState>()
const lastHealthy = new Map<string, boolean>()

function saveRecords(): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(recordsFile, JSON.stringify(records, null, 2))
}

function stateOf(a: AlarmSpec): AlarmState {
  const s = alarmState(a, points, Date.now(), states.get(a.name) ?? 'INSUFFICIENT_DATA')
  states.set(a.name, s)
  return s
}

/** A CLOUDWATCH_METRIC health check: healthy while its alarm is OK; INSUFFICIENT_DATA per its setting (LastKnownStatus). */
function healthy(id: string): boolean {
  const hc = healthChecks.get(id)
  const alarm = alarms.find((a) => a.name === hc?.cloudwatchAlarmName)
  if (!alarm) return true
  const s = stateOf(alarm)
  if (s === 'INSUFFICIENT_DATA') {
    const mode = hc?.insufficientDataHealthStatus ?? 'LastKnownStatus'
    return mode === 'Healthy' ? true : mode === 'Unhealthy' ? false : (lastHealthy.get(id) ?? true)
  }
  lastHealthy.set(id, s === 'OK')
  return s === 'OK'
}

const xml = (res: ServerResponse, code: number, body: string) => {
  res.writeHead(code, { 'content-type': 'text/xml' })
  res.end(`<?xml version="1.0"?>\n${body}`)
}

function putMetricData(form: URLSearchParams): void {
  const ns = form.get('Namespace')!
  for (let i = 1; form.has(`MetricData.member.${i}.MetricName`); i++) {
    const m = `MetricData.member.${i}`
    const dimensions: Record<string, string> = {}
    for (let j = 1; form.has(`${m}.Dimensions.member.${j}.Name`); j++)
      dimensions[form.get(`${m}.Dimensions.member.${j}.Name`)!] = form.get(`${m}.Dimensions.member.${j}.Value`)!
    points.push({
      namespace: ns,
      metricName: form.get(`${m}.MetricName`)!,
      dimensions,
      value: Number(form.get(`${m}.Value`)),
      at: Date.now(),
    })
  }
}

function describeAlarms(form: URLSearchParams): string {
  const names = [...form.entries()].filter(([k]) => k.startsWith('AlarmNames.member.')).map(([, v]) => v)
  const members = alarms
    .filter((a) => names.length === 0 || names.includes(a.name))
    .map((a) => `<member><AlarmName>${a.name}</AlarmName><StateValue>${stateOf(a)}</StateValue></member>`)
  return `<DescribeAlarmsResponse><DescribeAlarmsResult><MetricAlarms>${members.join('')}</MetricAlarms></DescribeAlarmsResult></DescribeAlarmsResponse>`
}

function changeRecords(text: string): void {
  for (const change of text.split('<Change>').slice(1)) {
    const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(change)?.[1]
    if (tag('Action') !== 'UPSERT') throw new Error(`only UPSERT is served here, not ${tag('Action')}`)
    const r: FailoverRecord = {
      name: tag('Name')!.replace(/\.$/, ''),
      setIdentifier: tag('SetIdentifier')!,
      failover: tag('Failover') as 'PRIMARY' | 'SECONDARY',
      value: tag('Value')!,
      ...(tag('HealthCheckId') ? { healthCheckId: tag('HealthCheckId')! } : {}),
    }
    records = [...records.filter((x) => !(x.name === r.name && x.setIdentifier === r.setIdentifier)), r]
  }
  saveRecords()
}

createHttp(async (req, res) => {
  const text = await readBody(req)
  const url = req.url ?? '/'
  if (req.method === 'GET' && url.startsWith('/twin/answer')) {
    const name = new URL(url, 'http://x').searchParams.get('name') ?? ''
    return res.end(JSON.stringify({ name, answer: failoverAnswer(records, name, healthy) }))
  }
  const verdict = await verifySigV4({ method: req.method ?? 'GET', url, headers: req.headers, body: text }, key)
  if (!verdict.ok)
    return xml(
      res,
      403,
      `<ErrorResponse><Error><Code>${verdict.code}</Code><Message>${verdict.message}</Message></Error></ErrorResponse>`,
    )
  try {
    if (/^\/2013-04-01\/hostedzone\/[^/]+\/rrset\/?$/.test(url) && req.method === 'POST') {
      changeRecords(text)
      return xml(
        res,
        200,
        `<ChangeResourceRecordSetsResponse><ChangeInfo><Id>/change/C${Date.now()}</Id><Status>PENDING</Status></ChangeInfo></ChangeResourceRecordSetsResponse>`,
      )
    }
    const form = new URLSearchParams(text)
    if (form.get('Action') === 'PutMetricData') {
      putMetricData(form)
      return xml(
        res,
        200,
        '<PutMetricDataResponse><ResponseMetadata><RequestId>twin</RequestId></ResponseMetadata></PutMetricDataResponse>',
      )
    }
    if (form.get('Action') === 'DescribeAlarms') return xml(res, 200, describeAlarms(form))
    return xml(
      res,
      400,
      `<ErrorResponse><Error><Code>InvalidAction</Code><Message>not served by the twin: ${url} ${form.get('Action')}</Message></Error></ErrorResponse>`,
    )
  } catch (e) {
    return xml(
      res,
      400,
      `<ErrorResponse><Error><Code>InvalidInput</Code><Message>${(e as Error).message}</Message></Error></ErrorResponse>`,
    )
  }
}).listen(Number(apiPort), apiIp)

// the traffic endpoint: where Route53 answers for the failover name now (the records' one name)
const endpointName = records[0]?.name ?? ''
createTcp(async (client) => {
  client.pause()
  client.on('error', () => {})
  const answer = failoverAnswer(records, endpointName, healthy)
  const host = answer
    ? await lookup(answer, { family: 4 }).then(
        (a) => a.address,
        () => null,
      )
    : null
  if (!host) return client.destroy()
  const upstream = connect({ host, port: 5432 })
  upstream.on('error', () => client.destroy())
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
  client.pipe(upstream)
  upstream.pipe(client)
  client.resume()
}).listen(Number(endpointPort), endpointIp)
