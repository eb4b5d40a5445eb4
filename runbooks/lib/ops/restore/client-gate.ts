/**
 * Closing the primary cluster to clients before PGO restores it in place, and reopening it once
 * the restored data is verified (core/client-gate.ts has the rules). Each state is observed on
 * the server, not assumed from the patch: pg_hba.conf holds the marker (or not), and the server
 * reloaded its configuration after the file last changed and after the patch was sent.
 */
import { gateInFile, gateRules, type HbaRow } from '../../../../core/client-gate.ts'
import type { Runner } from '../../adapters/exec.ts'
import { getPostgresCluster, hbaPatch, setHba, type ClusterRef } from '../../adapters/kube.ts'
import { query, type Conn } from '../../adapters/postgres.ts'
import { waitFor } from '../../adapters/process.ts'

export interface ClientGate {
  ref: ClusterRef
  /** the cluster's own pg_hba rules before the gate (null: none, PGO's defaults) */
  previous: string[] | null
  rules: string[]
}

/** How an operator reopens the cluster by hand (for a run that stops with the gate closed). */
export const reopenCommand = (g: Pick<ClientGate, 'ref' | 'previous'>) =>
  `kubectl --context ${g.ref.context} -n ${g.ref.namespace} patch postgrescluster ${g.ref.name} --type merge -p '${JSON.stringify(hbaPatch(g.previous))}'`

/** The gate this run would close, from the cluster's spec and how this run's own session connects. */
export async function planGate(run: Runner, ref: ClusterRef, conn: Conn, user: string): Promise<ClientGate> {
  const cluster = await getPostgresCluster(run, ref)
  const previous = cluster.spec?.patroni?.dynamicConfiguration?.postgresql?.pg_hba ?? null
  const [s] = await query<{ ssl: boolean | null }>(conn, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
  return { ref, previous, rules: gateRules(user, !!s?.ssl) }
}

export async function closeGate(run: Runner, g: ClientGate, conn: Conn): Promise<void> {
  const since = await serverNow(conn)
  await setHba(run, g.ref, g.rules)
  await awaitGate(conn, 'closed', since)
}

export async function reopenGate(run: Runner, g: ClientGate, conn: Conn): Promise<void> {
  const since = await serverNow(conn)
  await setHba(run, g.ref, g.previous)
  await awaitGate(conn, 'open', since)
}

/** Is the gate closed right now, as loaded (marker in the file, configuration reloaded since it changed)? */
export async function gateState(conn: Conn, since?: string): Promise<'closed' | 'open' | 'changing'> {
  const rows = await query<HbaRow>(conn, 'SELECT type, database, user_name, auth_method FROM pg_hba_file_rules')
  const [r] = await query<{ loaded: boolean }>(
    conn,
    `SELECT pg_conf_load_time() >= (pg_stat_file(current_setting('hba_file'))).modification
        AND ($1::timestamptz IS NULL OR pg_conf_load_time() > $1::timestamptz) AS loaded`,
    [since ?? null],
  )
  if (!r?.loaded) return 'changing'
  return gateInFile(rows) ? 'closed' : 'open'
}

/** Patroni writes pg_hba.conf and reloads within its loop (10 s by default): wait for it, up to 5 min. */
async function awaitGate(conn: Conn, want: 'closed' | 'open', since: string): Promise<void> {
  await waitFor(
    `the cluster to be ${want} to clients (pg_hba.conf, as loaded)`,
    async () => (await gateState(conn, since)) === want,
    300_000,
    500,
  )
}

const serverNow = async (conn: Conn) => (await query<{ t: string }>(conn, `SELECT now()::text AS t`))[0]!.t
