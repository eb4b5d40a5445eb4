/**
 * The twin's PGO, second part: what it does to a running cluster on the spec's say (its own Go
 * code simulated; Patroni, pgBackRest and PostgreSQL real): the dynamic configuration's pg_hba
 * through Patroni, and the in-place restore.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Runner } from '../../adapters/exec.ts'
import { patchConfig } from '../../adapters/patroni.ts'
import { pgoHba, PGO_STANZA } from '../../../../core/pgo.ts'
import { backrestEnv } from './backrest.ts'
import { inNamespace } from './processes.ts'
import { ETCD_PORT } from './layout.ts'
import {
  leaderOf,
  members,
  patroniApi,
  PG_BIN,
  SCOPE,
  startCluster,
  stopInstances,
  waitReady,
  type TwinCluster,
} from './pgo.ts'

/**
 * PGO's reconcile of spec.patroni.dynamicConfiguration (internal/patroni/api.go; here through
 * Patroni's REST API): the pg_hba rules PGO computes from the spec (its mandatory rules, then the
 * spec's, or its defaults when the spec has none). Patroni rewrites pg_hba.conf and reloads.
 */
export async function applyDynamicConfiguration(c: TwinCluster): Promise<void> {
  const leader = leaderOf(await members(c.layout))
  const at = c.layout.instances.find((i) => i.name === leader?.name)
  if (at) await patchConfig(patroniApi(c.layout, at), { postgresql: { pg_hba: pgoHba(c.spec) } })
}

const RESTORE_JOB = fileURLToPath(new URL('./restore-job.sh', import.meta.url))

/**
 * PGO's in-place restore (controller/postgrescluster/pgbackrest.go reconcileRestoreJob, the job's
 * script from internal/pgbackrest/config.go RestoreCommand): every instance stops, Patroni's
 * cluster state leaves the DCS, the job restores the first instance's data (restore-job.sh), then
 * the cluster starts again: the first instance bootstraps a new Patroni cluster from that data
 * ("existing"), the others are re-created from it (their data is another history). The job's
 * exit decides succeeded or failed.
 */
export async function restoreInPlace(
  run: Runner,
  c: TwinCluster,
  repoName: string,
  options: string[],
): Promise<{ ok: boolean; output: string }> {
  const s = c.layout
  await stopInstances(s)
  // Patroni's keys: etcd3's default namespace /service/, then the scope
  const etcd = ['etcdctl', '--endpoints', `http://${s.hostIp}:${ETCD_PORT}`]
  await run('ip', ['netns', 'exec', s.ns, ...etcd, 'del', '--prefix', `/service/${SCOPE}`], {
    env: { ETCDCTL_API: '3' },
  })
  const first = s.instances[0]!
  const repo = `--repo=${repoName.replace(/^repo/, '')}`
  const opts = [`--stanza=${PGO_STANZA}`, `--pg1-path=${first.data}`, repo, '--delta', ...options].join(' ')
  const job = [RESTORE_JOB, first.data, opts, join(first.dir, 'restore-tmp'), PG_BIN]
  const inside = inNamespace(s.ns, 'postgres', job)
  const r = await run('ip', inside.argv, {
    env: { ...backrestEnv(first), ...inside.env },
    nothrow: true,
    timeoutMs: 4 * 3600_000,
  })
  const output = `${r.stdout}\n${r.stderr}`.trim()
  if (r.code !== 0) return { ok: false, output }
  for (const i of s.instances.slice(1)) await run('rm', ['-rf', '--', i.data])
  await startCluster(c, { existing: first })
  await waitReady(s, { all: false, timeoutMs: 600_000 })
  // then the others, re-created from it
  await startCluster(c)
  return { ok: true, output }
}
