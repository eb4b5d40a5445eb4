/**
 * The one process runner. Adapters take a `Runner` so tests can hand them the real one or a
 * recording one. When we run as root, PostgreSQL tools run as the `postgres` OS user.
 * Secrets travel in the environment, never in argv.
 */
import { $ } from 'zx'
import { CommandError } from '../../../core/errors.ts'
import { redact } from '../output/redact.ts'

export interface RunOptions {
  env?: Record<string, string | undefined>
  input?: string
  timeoutMs?: number
  cwd?: string
  /** run as the site's OS user (postgres when we are root) */
  asSiteUser?: boolean
  /** return a non-zero exit instead of throwing (probes only) */
  nothrow?: boolean
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export type Runner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>

export const isRoot = (): boolean => process.getuid?.() === 0
export const SITE_USER = 'postgres'

function wrapForSiteUser(cmd: string, args: readonly string[], asSiteUser?: boolean): [string, string[]] {
  return asSiteUser && isRoot() ? ['runuser', ['-u', SITE_USER, '--', cmd, ...args]] : [cmd, [...args]]
}

export const run: Runner = async (cmd, args, opts = {}) => {
  const [bin, argv] = wrapForSiteUser(cmd, args, opts.asSiteUser)
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env }
  let p = $({ env, cwd: opts.cwd, input: opts.input, nothrow: true, quiet: true, verbose: false })`${bin} ${argv}`
  if (opts.timeoutMs) p = p.timeout(opts.timeoutMs, 'SIGKILL')
  const out = await p
  const res = { code: out.exitCode ?? -1, stdout: out.stdout, stderr: out.stderr }
  if (res.code !== 0 && !opts.nothrow)
    throw new CommandError(redact([cmd, ...args].join(' ')), res.code, redact(res.stderr || res.stdout))
  return res
}

/** Does a binary exist on PATH (or at an absolute path)? */
export async function which(bin: string): Promise<string | undefined> {
  const r = await run('sh', ['-c', 'command -v "$0"', bin], { nothrow: true })
  return r.code === 0 ? r.stdout.trim() : undefined
}
