/**
 * Google's side of who may do what, as the twin's GCS (gcs-api.ts) and GKE metadata server
 * (gke-metadata.ts) apply it, from the program's own objects:
 * - access tokens: Google mints them for a service account (OAuth 2.0: a signed JWT for a key
 *   file, developers.google.com/identity/protocols/oauth2/service-account; the metadata server
 *   for a Workload Identity pod). Here a token is the account, its scope and expiry, signed
 *   with the twin's own key (HMAC), so the two stand-ins agree without sharing state;
 * - GCS permissions by the bucket's IAM members (cloud.google.com/storage/docs/access-control/iam-roles):
 *   objectViewer lists and reads; objectAdmin also creates and deletes; legacyBucketWriter lists,
 *   creates and deletes (no read); the project's owner does everything;
 * - Workload Identity (cloud.google.com/kubernetes-engine/docs/how-to/workload-identity): a pod
 *   acts as the Google account its Kubernetes service account is annotated with
 *   (iam.gke.io/gcp-service-account), only where that account grants the pod's
 *   `<project>.svc.id.goog[<namespace>/<ksa>]` roles/iam.workloadIdentityUser.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export interface TokenClaims {
  email: string
  scope: 'read_only' | 'read_write'
  exp: number
}

const b64 = (s: string) => Buffer.from(s).toString('base64url')

export function mintToken(secret: Buffer, c: TokenClaims): string {
  const body = b64(JSON.stringify(c))
  return `ya29.twin.${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}

export function verifyToken(secret: Buffer, token: string, now = Date.now() / 1000): TokenClaims | null {
  const m = /^ya29\.twin\.([\w-]+)\.([\w-]+)$/.exec(token)
  if (!m) return null
  const want = createHmac('sha256', secret).update(m[1]!).digest()
  const got = Buffer.from(m[2]!, 'base64url')
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null
  const c = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as TokenClaims
  return c.exp > now ? c : null
}

export type GcsAction = 'list' | 'get' | 'create' | 'delete'

const ROLE_ACTIONS: Record<string, GcsAction[]> = {
  'roles/storage.objectViewer': ['list', 'get'],
  'roles/storage.objectAdmin': ['list', 'get', 'create', 'delete'],
  'roles/storage.admin': ['list', 'get', 'create', 'delete'],
  'roles/storage.legacyBucketWriter': ['list', 'create', 'delete'],
  'roles/storage.legacyBucketReader': ['list'],
}

export interface BucketBinding {
  bucket: string
  role: string
  member: string
}

/** May this account do this in this bucket? (owners: every bucket of the project) */
export function mayAccess(
  bindings: BucketBinding[],
  owners: string[],
  who: { email: string; scope: TokenClaims['scope'] },
  bucket: string,
  action: GcsAction,
): boolean {
  // a read-only token (devstorage.read_only) never writes, whatever the roles
  if (who.scope === 'read_only' && (action === 'create' || action === 'delete')) return false
  const member = `serviceAccount:${who.email}`
  if (owners.includes(member)) return true
  return bindings.some((b) => b.bucket === bucket && b.member === member && ROLE_ACTIONS[b.role]?.includes(action))
}

export interface WorkloadBinding {
  /** the Google account's resource name: projects/<p>/serviceAccounts/<email> */
  serviceAccountId: string
  role: string
  member: string
}

/** The Google account a pod acts as, or why it acts as none. */
export function workloadAccount(
  bindings: WorkloadBinding[],
  pod: { namespace: string; ksa: string; annotatedAccount?: string },
): { email: string } | { refused: string } {
  const email = pod.annotatedAccount
  if (!email)
    return {
      refused: `the Kubernetes service account ${pod.namespace}/${pod.ksa} has no iam.gke.io/gcp-service-account`,
    }
  const project = /@([^.]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1]
  const member = `serviceAccount:${project}.svc.id.goog[${pod.namespace}/${pod.ksa}]`
  const bound = bindings.some(
    (b) =>
      b.role === 'roles/iam.workloadIdentityUser' &&
      b.member === member &&
      b.serviceAccountId.endsWith(`/serviceAccounts/${email}`),
  )
  return bound ? { email } : { refused: `${email} does not grant ${member} roles/iam.workloadIdentityUser` }
}
