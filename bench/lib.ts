/** Bench helpers: a private local site, timing, and a table. Benchmarks print; they never assert. */
import type { DrPolicy } from '../core/policy.ts'
import { mkdirSync, chmodSync } from 'node:fs'
import { LocalSite } from '../runbooks/lib/sites/local/site.ts'
import { layout } from '../runbooks/lib/sites/local/layout.ts'
import { loadPolicy } from '../config/project-files.ts'
import { run } from '../runbooks/lib/adapters/exec.ts'
import { siteIds } from '../runbooks/lib/adapters/process.ts'
import { AuditLog } from '../runbooks/lib/output/audit.ts'

export const ROOT = new URL('../', import.meta.url).pathname

/** A fresh private site for one bench (a leftover from an interrupted run is removed first,
 * unless `reuse`: then a site kept by an earlier `--keep` run is used as it is). */
export async function benchSite(
  name: string,
  basePort: number,
  reuse = false,
  policyOf: (p: DrPolicy) => DrPolicy = (p) => p,
): Promise<{ site: LocalSite; audit: AuditLog }> {
  const dir = `/var/tmp/labdojo-bench-${name}`
  mkdirSync(dir, { recursive: true })
  chmodSync(dir, 0o755)
  const l = layout(`${dir}/local`, basePort, siteIds().home)
  const site = new LocalSite(l, policyOf(loadPolicy(ROOT, 'local')), run)
  process.env.PGPASSFILE = l.secrets.pgpass // the bench's own psql/pg_dump log in with the site's password
  if (site.exists() && !reuse) {
    await site.down()
    site.purge()
  }
  return { site, audit: new AuditLog(`${dir}/audit.log`, `bench-${name}`, 'local') }
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint()
  const v = await fn()
  return [Number(process.hrtime.bigint() - t0) / 1e9, v]
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toFixed(2) : c)))
  const w = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  return cells.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n')
}

export const sh = (script: string, args: string[] = []) =>
  run('bash', ['-o', 'pipefail', '-c', script, 'bench', ...args], { asSiteUser: true, timeoutMs: 3_600_000 })
