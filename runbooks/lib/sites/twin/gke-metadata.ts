/**
 * A GKE region's metadata server with Workload Identity (cloud.google.com/kubernetes-engine/docs/concepts/workload-identity):
 * at metadata.google.internal (169.254.169.254:80) it answers a pod's token request
 * (/computeMetadata/v1/instance/service-accounts/default/token, header Metadata-Flavor: Google,
 * what pgBackRest's repo-gcs-key-type=auto asks: src/storage/gcs/storage.c storageGcsAuthAuto)
 * with a token for the Google account the pod's Kubernetes service account may act as
 * (gcp-iam.ts workloadAccount). GKE knows the pod by its address; the twin's pods of a region
 * share its namespace, so every request from the region is PGO's instance pod (the one pod kind
 * that asks here: the twin runs no GKE exporter yet).
 * usage: tsx gke-metadata.ts CONFIG.json (as root inside the region's namespace)
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { mintToken, workloadAccount, type WorkloadBinding } from './gcp-iam.ts'

export interface GkeMetadataConfig {
  ip: string
  port: number
  /** the region's pods: their namespace, Kubernetes service account and that account's annotation */
  pod: { namespace: string; ksa: string; annotatedAccount?: string }
  bindings: WorkloadBinding[]
  tokenSecret: string
}

const c = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as GkeMetadataConfig
const secret = readFileSync(c.tokenSecret)
const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token'

const server = createServer((req, res) => {
  const json = (code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json', 'metadata-flavor': 'Google' })
    res.end(JSON.stringify(body))
  }
  if (String(req.headers['metadata-flavor'] ?? '').toLowerCase() !== 'google')
    return json(403, { error: 'Missing required header: Metadata-Flavor' })
  if (new URL(req.url ?? '/', 'http://m').pathname !== TOKEN_PATH) return json(404, { error: 'not found' })
  const from = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
  const who = workloadAccount(c.bindings, c.pod)
  if ('refused' in who) {
    process.stdout.write(`${new Date().toISOString()} refused ${from}: ${who.refused}\n`)
    return json(403, { error: 'permission_denied', error_description: who.refused })
  }
  const exp = Math.floor(Date.now() / 1000) + 3600
  json(200, {
    access_token: mintToken(secret, { email: who.email, scope: 'read_write', exp }),
    expires_in: 3600,
    token_type: 'Bearer',
  })
})
server.listen(c.port, c.ip)
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
