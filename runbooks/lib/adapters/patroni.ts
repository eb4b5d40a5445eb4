/**
 * Patroni's REST API (3.0): the cluster's members and roles, and the dynamic configuration,
 * patched as PGO patches it (a standby cluster is promoted by removing `standby_cluster`). PGO
 * serves it over TLS only (internal/patroni/config.go `restapi`: cafile, certfile, verify_client
 * optional), so a caller verifies the server against the cluster's CA and, for the unsafe
 * endpoints (PATCH /config), presents a certificate that CA signed (Patroni's api.py
 * check_access answers 403 "client certificate required" otherwise), as PGO's `ctl` does.
 */
import { readFileSync } from 'node:fs'
import { request } from 'node:https'

/** An instance's REST API: its https URL, the CA to verify it and the client certificate to present. */
export interface PatroniApi {
  url: string
  ca: string
  cert: string
  key: string
}

export interface PatroniMember {
  name: string
  role: 'leader' | 'standby_leader' | 'replica' | 'sync_standby' | string
  state: string
  host: string
  port: number
  lag?: number | string
  timeline?: number
}

function call(
  api: PatroniApi,
  path: string,
  method: 'GET' | 'PATCH',
  body?: object,
  timeoutMs = 3000,
): Promise<{ status: number; body: string }> {
  const url = `${api.url}${path}`
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined
    const req = request(
      url,
      {
        method,
        timeout: timeoutMs,
        ca: readFileSync(api.ca),
        cert: readFileSync(api.cert),
        key: readFileSync(api.key),
        headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(data)
  })
}

/** GET /cluster from any member: every member's role and state (null when this member does not answer). */
export async function clusterMembers(api: PatroniApi): Promise<PatroniMember[] | null> {
  try {
    const r = await call(api, '/cluster', 'GET')
    return r.status === 200 ? ((JSON.parse(r.body) as { members: PatroniMember[] }).members ?? []) : null
  } catch {
    return null
  }
}

/** PATCH /config: Patroni merges it into the dynamic configuration (null removes a key) and applies it. */
export async function patchConfig(api: PatroniApi, patch: object): Promise<void> {
  const r = await call(api, '/config', 'PATCH', patch)
  if (r.status !== 200) throw new Error(`PATCH ${api.url}/config: ${r.status} ${r.body.slice(0, 200)}`)
}

export async function getConfig(api: PatroniApi): Promise<Record<string, unknown>> {
  const r = await call(api, '/config', 'GET')
  if (r.status !== 200) throw new Error(`GET ${api.url}/config: ${r.status} ${r.body.slice(0, 200)}`)
  return JSON.parse(r.body) as Record<string, unknown>
}
