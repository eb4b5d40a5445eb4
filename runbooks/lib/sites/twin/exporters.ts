/**
 * The program's DR exporter Deployments, run inside their regions as the pods would run them:
 * the container's arguments (runbooks/monitor.ts on the stack's inventory ConfigMap, which names
 * the site endpoints, resolved in the region), its environment with every secretKeyRef read
 * from the twin's Secrets (PGO's user Secrets, the cipher Secret), as the postgres OS user (the
 * pod is not root). Where the pod has IRSA, the twin gives the AWS stand-ins' endpoint and key.
 * The pod's service account reaches its cluster's API at the in-cluster address (in-cluster.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { giveToSiteUser } from '../../adapters/process.ts'
import { startOnce, stopOnce } from './processes.ts'
import { readStatus } from './pgo.ts'
import { IN_CLUSTER_PORT, mountServiceAccount } from './in-cluster.ts'
import { gkeClusters } from './gcp.ts'
import type { Twin } from './rendered.ts'

interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string } }
}
interface PodSpec {
  serviceAccountName?: string
  containers: Container[]
}
interface Container {
  args: string[]
  env: EnvVar[]
}

/** A secretKeyRef's value in a site's namespace: PGO's user Secrets (its status) or a Secret the program wrote. */
function secretValue(t: Twin, site: string, ref: { name: string; key: string }): string | undefined {
  const c = t.clusters.find((x) => x.layout.site === site)
  const user = /^labdojo-pguser-(.+)$/.exec(ref.name)?.[1]
  if (c && user)
    return (readStatus(c.layout).secrets[user] as Record<string, string | undefined> | undefined)?.[ref.key]
  const o = t.rendered.objects.find(
    (x) =>
      x.type === 'kubernetes:core/v1:Secret' && x.name.startsWith(`${site}-`) && x.object.metadata.name === ref.name,
  )
  return o?.object.stringData?.[ref.key]
}

export function startExporters(t: Twin, aws: Record<string, string>): void {
  for (const s of t.layout.sites) {
    // a GKE pod's Google identity comes from the metadata server by pod: the twin's pods share their region (gcp.ts)
    if (gkeClusters(t).some((c) => c.layout.site === s.site)) continue
    const d = t.rendered.objects.find((o) => o.name === `${s.site}-monitoring-exporter`)
    const inv = t.rendered.objects.find((o) => o.name === `${s.site}-inventory`)
    if (!d || !inv) continue
    const pod = (d.object.spec as { template: { spec: PodSpec } }).template.spec
    const container = pod.containers[0]!
    const dir = join(s.dir, 'exporter')
    mkdirSync(dir, { recursive: true })
    giveToSiteUser(dir)
    // the pod's service account, token and CA, and the in-cluster address of its cluster's API
    const namespace = (d.object.metadata as { namespace?: string }).namespace ?? 'labdojo'
    const sa = mountServiceAccount(s, namespace, pod.serviceAccountName ?? 'default', dir)
    const invFile = join(dir, 'inventory.json')
    writeFileSync(invFile, inv.object.data!['inventory.json']!)
    const env: Record<string, string> = {
      NODE_OPTIONS: '',
      HOME: dir,
      LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
      KUBERNETES_SERVICE_HOST: s.apiIp,
      KUBERNETES_SERVICE_PORT: String(IN_CLUSTER_PORT),
      LABDOJO_KUBE_SA_DIR: sa,
      ...aws,
    }
    for (const e of container.env) {
      const v = e.valueFrom?.secretKeyRef ? secretValue(t, s.site, e.valueFrom.secretKeyRef) : e.value
      if (v !== undefined) env[e.name] = v
    }
    // `npx zx runbooks/monitor.ts ...` in the image; the inventory ConfigMap's mount point, here a file
    const args = container.args.slice(2).map((a) => (a === '/etc/labdojo/inventory.json' ? invFile : a))
    startOnce({
      dir,
      name: 'exporter',
      match: 'runbooks/monitor.ts',
      ns: s.ns,
      as: 'postgres',
      cmd: args[0]!,
      args: args.slice(1),
      env,
      typescript: true,
    })
  }
}

/**
 * Stop them as Kubernetes stops a pod: SIGTERM, then a grace period (30 s, Kubernetes' default)
 * in which the exporter ends its round at a safe point and removes its temporary pgBackRest
 * configuration; a kill after 5 s left two directories under /var/tmp per twin.
 */
export async function stopExporters(t: Twin): Promise<void> {
  await Promise.all(
    t.layout.sites.map((s) =>
      stopOnce(join(s.dir, 'exporter'), 'exporter', { match: 'runbooks/monitor.ts', graceMs: 30_000 }),
    ),
  )
}
