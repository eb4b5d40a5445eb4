/**
 * What the twin is made of, as types: the program's objects rendered under the mock runtime, and
 * the twin built from them (its layout and its clusters).
 */
import type { Inventory } from '../../../../core/inventory.ts'
import type { TwinLayout } from './layout.ts'
import type { TwinCluster } from './pgo.ts'

/** The fields of a rendered Kubernetes object the twin reads. */
export interface K8sObject {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  spec?: unknown
  stringData?: Record<string, string>
  data?: Record<string, string>
}

export interface Rendered {
  stack: string
  inventory: Inventory
  objects: { type: string; name: string; object: K8sObject }[]
}

export interface Twin {
  layout: TwinLayout
  rendered: Rendered
  clusters: TwinCluster[]
}
