/**
 * Test helpers: a throw-away local site in its own state directory and port range, the
 * runbooks run as subprocesses exactly as an operator runs them, and clean-up of exactly
 * what the test started.
 */
import { spawnSync, spawn } from 'node:child_process'
import { mkdtempSync, chmodSync, rmSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { processAlive, siteIds } from '../../runbooks/lib/adapters/process.ts'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { LocalSite } from '../../runbooks/lib/sites/local/site.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { run } from '../../runbooks/lib/adapters/exec.ts'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '')
const TSX = createRequire(import.meta.url).resolve('tsx')

export interface TestSite {
  env: Record<string, string>
  stateDir: string
  basePort: number
  cleanup(): Promise<void>
}

/** A state dir the postgres user can reach, and a private port range. */
export function testSite(basePort: number): TestSite {
  const base = mkdtempSync('/var/tmp/labdojo-test-')
  chmodSync(base, 0o755)
  const stateDir = join(base, 'local')
  const env = {
    LABDOJO_STATE_DIR: stateDir,
    LABDOJO_BASE_PORT: String(basePort),
    LABDOJO_AUDIT_LOG: join(base, 'audit.log'),
    // test sites must not back up by the clock (a scheduled job would take the site lock mid-test)
    LABDOJO_SCHEDULER: 'off',
  } as Record<string, string>
  // the site's password file, for the test's own connections (TCP logins prove the password);
  // its lines name the site's own ports, so the files of several test sites never shadow each other
  const passfile = layout(stateDir, basePort, siteIds().home).secrets.pgpass
  process.env.LABDOJO_PASSFILES = [process.env.LABDOJO_PASSFILES, passfile].filter(Boolean).join(':')
  return {
    env,
    stateDir,
    basePort,
    async cleanup() {
      if (existsSync(join(stateDir, 'site.json'))) {
        const down = await runbook('local', ['down', '--purge', '--yes'], env)
        // never delete the state of a site still running: its processes could no longer be stopped by pid
        if (down.code !== 0) return void console.error(`test site ${stateDir} kept: down failed: ${down.stderr}`)
      }
      rmSync(base, { recursive: true, force: true })
    },
  }
}

/** The runbooks' own view of a test site (its layout and a project's policy), to call an op directly. */
export function localSiteOf(tt: TestSite, projectDir = ROOT): LocalSite {
  return new LocalSite(layout(tt.stateDir, tt.basePort, siteIds().home), loadPolicy(projectDir, 'local'), run)
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Run `runbooks/<name>.ts` the way `npx zx runbooks/<name>.ts` does (node + tsx loader). */
export function runbook(name: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startRunbook(name, args, env).done
}

/** The same, with the process at hand (to signal or kill it midway). */
export function startRunbook(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): { pid: number; done: Promise<CliResult> } {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'runbooks', `${name}.ts`), ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })),
  )
  return { pid: child.pid!, done }
}

export function runbookSync(name: string, args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', TSX, join(ROOT, 'runbooks', `${name}.ts`), ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
  })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** Set env for in-process use of the runbook libraries (localLayout reads it). */
export function useEnv(env: Record<string, string>): void {
  Object.assign(process.env, env)
}

export function pidsOf(stateDir: string): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {}
  for (const n of ['node1', 'node2', 'node3']) {
    const f = join(stateDir, 'nodes', n, 'data', 'postmaster.pid')
    out[n] = existsSync(f) ? Number(readFileSync(f, 'utf8').split('\n')[0]) : undefined
  }
  for (const [k, f] of [
    ['pgbouncer', 'pgbouncer/pgbouncer.pid'],
    ['s3rver', 's3/s3rver.pid'],
  ] as const) {
    const p = join(stateDir, f)
    out[k] = existsSync(p) ? Number(readFileSync(p, 'utf8').trim()) : undefined
  }
  return out
}

/** Alive, zombies excluded (this machine's init does not reap a stopped postmaster at once). */
export function alive(pid: number | undefined): boolean {
  return !!pid && processAlive(pid)
}

/**
 * What `local.ts status --json` prints, computed in the test's process: the same siteStatus the
 * runbook calls, JSON round-tripped as printed. A runbook process costs about 3 s of CPU on this
 * machine (tsx loading ~100 modules, then pgBackRest); the fault files ask for status ~100 times.
 */
export async function statusJson(tt: TestSite): Promise<any> {
  useEnv({ LABDOJO_SCHEDULER: tt.env.LABDOJO_SCHEDULER! }) // every test site runs without the scheduler
  return JSON.parse(JSON.stringify(await localSiteOf(tt).status(tt.env.LABDOJO_AUDIT_LOG)))
}

/** The server's own clock (the same one that stamps committed_at). */
export async function serverNow(port: number): Promise<number> {
  const { query } = await import('../../runbooks/lib/adapters/postgres.ts')
  const [r] = await query<{ t: Date }>(
    { host: '127.0.0.1', port, database: 'postgres' },
    'SELECT clock_timestamp() AS t',
  )
  return r!.t.getTime()
}

/** Stop and delete a scratch cluster a test restored. */
export async function dropScratch(dir: string): Promise<void> {
  const { Postgres, postmasterPid } = await import('../../runbooks/lib/adapters/postgres.ts')
  const { run } = await import('../../runbooks/lib/adapters/exec.ts')
  if (postmasterPid(dir)) await new Postgres(run).stop(dir, 'immediate').catch(() => {})
  rmSync(dir, { recursive: true, force: true })
}

export function json<T = any>(r: CliResult): T {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr || r.stdout}`)
  return JSON.parse(r.stdout) as T
}

/** The test site's audit log, entry by entry. */
export function auditEntries(t: TestSite): { runbook: string; action: string; result: string }[] {
  const f = t.env.LABDOJO_AUDIT_LOG!
  if (!existsSync(f)) return []
  return readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((x) => JSON.parse(x))
}

/** A fault file's site: up at `scale`, a workload writing through the endpoint (its writer's name returned). */
export async function startFaultSite(
  basePort: number,
  scale: string,
): Promise<{ t: TestSite; site: LocalSite; writer: string }> {
  const t = testSite(basePort)
  const up = await runbook('local', ['up', '--scale', scale], t.env)
  if (up.code !== 0) throw new Error(up.stderr)
  // 25 commits/s: a commit every 40 ms inside every fence-to-promote window, at a quarter of the CPU
  // of 100/s (measured: 100/s costs a third of a core for the file's whole run, 20/s a tenth)
  const writer = json(await runbook('workload', ['start', '--rate', '25', '--json'], t.env)).writer as string
  return { t, site: localSiteOf(t), writer }
}

/** The workload stopped, the site down and removed. */
export async function stopFaultSite(t: TestSite | undefined): Promise<void> {
  await runbook('workload', ['stop'], t?.env ?? {})
  await t?.cleanup()
}
