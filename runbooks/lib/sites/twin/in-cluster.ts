/**
 * What a pod has of its cluster's API in the twin: a service-account token and the API server's
 * CA in its service-account directory (Kubernetes mounts them at
 * /var/run/secrets/kubernetes.io/serviceaccount; here a directory the pod's process is told of),
 * and the API server behind the in-cluster address (KUBERNETES_SERVICE_HOST, port 443 over TLS).
 * The API stand-in (kube-api.ts) authenticates the token and authorizes each request by the
 * program's own Roles and RoleBindings, as Kubernetes' RBAC authorizer does: a verb on a resource
 * is allowed only where a Role bound to the account lists both.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import type { Rendered } from './rendered.ts'
import type { TwinSiteLayout } from './layout.ts'

export const IN_CLUSTER_PORT = 443

const tokensFile = (s: TwinSiteLayout) => join(s.dir, 'k8s', 'tokens.json')
export const apiTlsDir = (s: TwinSiteLayout) => join(s.dir, 'k8s', 'tls')

/** The accounts the site's API knows, by token (root only, 0600). */
export function readTokens(s: TwinSiteLayout): Record<string, string> {
  return existsSync(tokensFile(s)) ? (JSON.parse(readFileSync(tokensFile(s), 'utf8')) as Record<string, string>) : {}
}

/** A token for `system:serviceaccount:<namespace>:<name>` (made once), mounted where the pod reads it. */
export function mountServiceAccount(s: TwinSiteLayout, namespace: string, name: string, podDir: string): string {
  const user = `system:serviceaccount:${namespace}:${name}`
  const tokens = readTokens(s)
  let token = Object.keys(tokens).find((k) => tokens[k] === user)
  if (!token) {
    token = randomBytes(32).toString('base64url')
    mkdirSync(join(s.dir, 'k8s'), { recursive: true })
    writeFileSync(tokensFile(s), JSON.stringify({ ...tokens, [token]: user }), { mode: 0o600 })
  }
  const dir = join(podDir, 'serviceaccount')
  mkdirForSiteUser(dir, 0o700)
  writeFileSync(join(dir, 'token'), token, { mode: 0o600 })
  writeFileSync(join(dir, 'ca.crt'), readFileSync(join(apiTlsDir(s), 'ca.crt')))
  for (const f of ['token', 'ca.crt']) giveToSiteUser(join(dir, f))
  chmodSync(join(dir, 'token'), 0o600)
  return dir
}

interface RoleObject {
  metadata: { name: string; namespace?: string }
  rules?: { apiGroups?: string[]; resources?: string[]; verbs?: string[] }[]
  roleRef?: { kind: string; name: string }
  subjects?: { kind: string; name: string; namespace?: string }[]
}

/**
 * RBAC as the API server applies it to a namespaced request: some RoleBinding in the namespace
 * binds the account to a Role whose rule names the group, the resource and the verb (or `*`).
 */
export function allowed(
  r: Rendered,
  site: string,
  req: { user: string; namespace: string; group: string; resource: string; verb: string },
): boolean {
  const of = (type: string) =>
    r.objects
      .filter((o) => o.type === `kubernetes:rbac.authorization.k8s.io/v1:${type}` && o.name.startsWith(`${site}-`))
      .map((o) => o.object as unknown as RoleObject)
      .filter((o) => (o.metadata.namespace ?? req.namespace) === req.namespace)
  const [, , ns, sa] = req.user.split(':')
  const has = (list: string[] | undefined, v: string) => !!list && (list.includes(v) || list.includes('*'))
  return of('RoleBinding')
    .filter((b) => b.subjects?.some((x) => x.kind === 'ServiceAccount' && x.name === sa && (x.namespace ?? ns) === ns))
    .flatMap((b) => of('Role').filter((role) => b.roleRef?.kind === 'Role' && role.metadata.name === b.roleRef.name))
    .some((role) =>
      role.rules?.some((x) => has(x.apiGroups, req.group) && has(x.resources, req.resource) && has(x.verbs, req.verb)),
    )
}
