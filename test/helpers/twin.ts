/**
 * A twin of the prod stack for one test file: `twin.ts up` in a fresh directory under /var/tmp
 * (its parents searchable by postgres) on the file's own base port, and `down --purge` after.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { loadTwin, type Twin } from '../../runbooks/lib/sites/twin/twin.ts'
import { parseInventory, type Inventory } from '../../core/inventory.ts'
import { runbook } from './site.ts'
import { query, type Conn } from '../../runbooks/lib/adapters/postgres.ts'

export interface TestTwin {
  dir: string
  twin: Twin
  inv: Inventory
  invFile: string
}

/** `stack` all: prod and dr; the inventory returned is prod's, dr's is twin-dr.json beside it. */
export async function twinUp(prefix: string, base: number, stack: 'prod' | 'all' = 'prod'): Promise<TestTwin> {
  const dir = mkdtempSync(`/var/tmp/${prefix}`)
  chmodSync(dir, 0o755) // Patroni and PostgreSQL run as postgres
  const invFile = join(dir, 'twin-prod.json')
  const out = stack === 'all' ? join(dir, 'twin-all.json') : invFile
  const r = await runbook('twin', ['up', '--stack', stack, '--base-port', String(base)], {
    LABDOJO_TWIN_DIR: join(dir, 'state'),
    LABDOJO_TWIN_OUT: out,
    LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
  })
  if (r.code !== 0) throw new Error(`twin up failed (${r.code}): ${r.stderr}\n${r.stdout}`)
  const twin = loadTwin(join(dir, 'state'))!
  const inv = parseInventory(JSON.parse(readFileSync(invFile, 'utf8')).inventory, invFile)
  return { dir, twin, inv, invFile }
}

export async function twinDown(dir: string, base: number): Promise<void> {
  if (!dir) return
  const r = await runbook('twin', ['down', '--purge', '--yes', '--base-port', String(base)], {
    LABDOJO_TWIN_DIR: join(dir, 'state'),
    LABDOJO_AUDIT_LOG: join(dir, 'audit.log'),
  })
  if (r.code !== 0) process.stderr.write(`twin down: ${r.stderr}\n`)
  rmSync(dir, { recursive: true, force: true })
}

/** Poll until the condition holds (no wall-clock limit of ours: the file's timeout bounds it). */
export async function until(cond: () => Promise<boolean>, pauseMs = 500): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, pauseMs))
}

/** Switch WAL on a primary and wait until that segment is archived. */
export async function archiveNow(c: Conn): Promise<void> {
  const [w] = await query<{ f: string }>(c, 'SELECT pg_walfile_name(pg_switch_wal()) AS f')
  await until(async () => {
    const [a] = await query<{ w: string | null }>(c, 'SELECT last_archived_wal AS w FROM pg_stat_archiver')
    return (a!.w ?? '') >= w!.f
  })
}
