/**
 * The client gate of an in-place restore on a cloud stack: while PGO replaces the primary's data,
 * clients are refused at pg_hba (outside the data, so the restore cannot undo it) and only the
 * runbook's own user gets in, to verify the restored data before traffic returns. The gate is
 * Patroni's pg_hba list: PGO puts it after its mandatory rules and leaves its defaults out.
 */

/** A rule that matches no real connection: its presence in pg_hba.conf says the gate is closed. */
export const GATE_MARKER = 'host labdojo_dr_gate labdojo_dr_gate 127.0.0.1/32 reject'

/**
 * The rules that close the cluster: the marker, the runbook's user (over TLS when its own session
 * uses TLS, as observed; md5 also accepts SCRAM-stored passwords), then every other client refused.
 */
export function gateRules(user: string, ssl: boolean): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_$-]*$/.test(user))
    throw new Error(`the inventory's database user ${JSON.stringify(user)} cannot be named in a pg_hba rule`)
  return [GATE_MARKER, `${ssl ? 'hostssl' : 'host'} all "${user}" all md5`, 'host all all all reject']
}

/** One row of pg_hba_file_rules, as PostgreSQL parsed pg_hba.conf. */
export interface HbaRow {
  type: string
  database: string[] | null
  user_name: string[] | null
  auth_method: string | null
}

/** Is the gate in pg_hba.conf (by its marker rule)? */
export const gateInFile = (rows: HbaRow[]): boolean =>
  rows.some(
    (r) =>
      r.type === 'host' &&
      r.database?.join() === 'labdojo_dr_gate' &&
      r.user_name?.join() === 'labdojo_dr_gate' &&
      r.auth_method === 'reject',
  )
