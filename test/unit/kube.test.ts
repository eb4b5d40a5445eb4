/**
 * The Kubernetes adapter inside a pod: PGO's PostgresCluster read from the API server over TLS
 * with the service account's token and CA (a local HTTPS server with a throw-away certificate
 * stands in for the API server), never through kubectl; and which clusters a pod reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:https'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { getPostgresCluster } from '../../runbooks/lib/adapters/kube.ts'
import { clustersToRead } from '../../runbooks/lib/ops/monitor/cloud-source.ts'
import type { Inventory } from '../../core/inventory.ts'
import type { Runner } from '../../runbooks/lib/adapters/exec.ts'

let dir = ''
let server: Server
const seen: { path?: string; auth?: string }[] = []
const saved = { ...process.env }
const noKubectl: Runner = async () => {
  throw new Error('kubectl must not run inside a pod')
}

/** A throw-away self-signed certificate for 127.0.0.1 (key.pem, ca.crt) in a directory. */
function selfSigned(at: string): void {
  const subject = ['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
  execFileSync(
    'openssl',
    ['req', '-x509', ...ec, ...subject, '-keyout', join(at, 'key.pem'), '-out', join(at, 'ca.crt')],
    {
      stdio: 'ignore',
    },
  )
}

beforeAll(async () => {
  dir = mkdtempSync('/tmp/labdojo-kube-test-')
  selfSigned(dir)
  writeFileSync(join(dir, 'token'), 'sa-token-0123456789\n', { mode: 0o600 })
  server = createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.crt')) },
    (req, res) => {
      seen.push({ path: req.url, auth: req.headers.authorization })
      if (req.url?.endsWith('/postgresclusters/forbidden')) return void res.writeHead(403).end('{"reason":"Forbidden"}')
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          metadata: { name: 'labdojo', namespace: 'labdojo' },
          status: { pgbackrest: { scheduledBackups: [{ cronJobName: 'labdojo-repo1-full', succeeded: 1 }] } },
        }),
      )
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  Object.assign(process.env, {
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: String((server.address() as AddressInfo).port),
    LABDOJO_KUBE_SA_DIR: dir,
  })
})
afterAll(() => {
  process.env = saved
  server?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('kube.ts inside a pod', () => {
  it("reads the PostgresCluster from the API server with the pod's token, trusting only the pod's CA", async () => {
    const pc = await getPostgresCluster(noKubectl, { context: 'ignored', namespace: 'labdojo', name: 'labdojo' })
    expect(pc.status?.pgbackrest?.scheduledBackups?.[0]?.succeeded).toBe(1)
    expect(seen.at(-1)).toEqual({
      path: '/apis/postgres-operator.crunchydata.com/v1beta1/namespaces/labdojo/postgresclusters/labdojo',
      auth: 'Bearer sa-token-0123456789',
    })
  })

  it('an API error names the status and the path (the token is not in it)', async () => {
    const e = await getPostgresCluster(noKubectl, { namespace: 'labdojo', name: 'forbidden' }).catch((x: Error) => x)
    expect(e).toBeInstanceOf(Error)
    expect((e as Error).message).toMatch(/postgresclusters\/forbidden: 403/)
    expect((e as Error).message).not.toContain('sa-token')
  })

  it("another CA is refused: the server is not trusted without the pod's ca.crt", async () => {
    const other = mkdtempSync('/tmp/labdojo-kube-other-')
    selfSigned(other)
    writeFileSync(join(other, 'token'), 'x')
    process.env.LABDOJO_KUBE_SA_DIR = other
    try {
      const e = await getPostgresCluster(noKubectl, { namespace: 'labdojo', name: 'labdojo' }).catch((x: Error) => x)
      expect(e).toBeInstanceOf(Error)
      expect((e as Error).message).toMatch(/self.signed|certificate/i)
    } finally {
      process.env.LABDOJO_KUBE_SA_DIR = dir
      rmSync(other, { recursive: true, force: true })
    }
  })

  it("a pod reads only its own site's cluster, without a kube context; a workstation reads each node's", () => {
    const node = (name: string, site: 'primary' | 'hot') => ({
      name,
      site,
      role: 'primary' as const,
      host: 'h',
      port: 5432,
      database: 'labdojo',
      user: 'postgres',
      kubeContext: `ctx-${name}`,
      namespace: 'labdojo',
    })
    const inv = { nodes: [node('primary', 'primary'), node('hot', 'hot')] } as Inventory
    expect(clustersToRead(inv, { KUBERNETES_SERVICE_HOST: '10.0.0.1', LABDOJO_SITE: 'hot' })).toEqual([
      { context: undefined, namespace: 'labdojo', name: 'labdojo' },
    ])
    expect(clustersToRead(inv, {}).map((c) => c.context)).toEqual(['ctx-primary', 'ctx-hot'])
  })
})
