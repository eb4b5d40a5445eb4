/**
 * What the twin is made of, as types: the program's objects rendered under the mock runtime, and
 * the twin built from them (its layout and its clusters).
 */
import type { Inventory } from '../../../../core/inventory.ts'
import type { TwinLayout } from './layout.ts'
import type { PgoSpec } from '../../../../core/pgo.ts'
import type { TwinSiteLayout } from './layout.ts'
import type { TlsFiles } from './pki.ts'

/** The fields of a rendered Kubernetes object the twin reads. */
export interface K8sObject {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec?: unknown
  stringData?: Record<string, string>
  data?: Record<string, string>
}

export interface Rendered {
  stack: string
  /** the first stack's inventory (prod's, when the twin runs both) */
  inventory: Inventory
  /** every stack's inventory, when the twin runs more than one (`--stack all`: prod, dr) */
  inventories?: Inventory[]
  /** the stacks' outputs (`pulumi stack output --json --show-secrets`) */
  outputs?: Record<string, unknown>
  objects: { type: string; name: string; object: K8sObject }[]
}

/** Every stack's inventory the twin runs. */
export const inventoriesOf = (r: Rendered): Inventory[] => r.inventories ?? [r.inventory]

export interface Twin {
  layout: TwinLayout
  rendered: Rendered
  clusters: TwinCluster[]
}

/** One PostgresCluster as the twin runs it (pgo.ts). */
export interface TwinCluster {
  layout: TwinSiteLayout
  spec: PgoSpec
  /** the Secrets the program wrote beside the cluster, by user: what PGO finds and keeps */
  givenSecrets: Record<string, { password?: string; verifier?: string }>
  initSql?: string
  /** PGO's AutoCreateUserSchema gate on and the cluster annotated (users.go) */
  autoCreateUserSchema: boolean
  tls: TlsFiles
  replication: TlsFiles
}
