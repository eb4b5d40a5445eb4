/**
 * Loading a stack for a runbook: the DR policy (always), and the inventory — the local site's
 * own state for `--stack local` (the default), or a cloud stack's `inventory` output
 * (`--inventory FILE`, or `pulumi stack output --json` when the CLI is installed).
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, lstatSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { dirname, join } from 'node:path'
import type { DrPolicy } from '../../../core/policy.ts'
import { LOCAL_STACK } from '../../../core/project-config.ts'
import { loadPolicy, stacksIn } from '../../../config/project-files.ts'
import { parseInventory, type Inventory } from '../../../core/inventory.ts'
import { InputError, inputError, firstLine } from '../../../core/errors.ts'
import { REPO_ROOT } from './frame.ts'
import { anchorAuditWith, AuditLog } from '../output/audit.ts'
import { anchorAuditHead } from '../sites/local/audit-anchor.ts'
import { isRoot, run, SITE_USER } from '../adapters/exec.ts'
import { layout, type Layout } from '../sites/local/layout.ts'
import { parseBasePort } from './flags.ts'
import { LocalSite } from '../sites/local/site.ts'
import { parseState } from '../sites/local/state.ts'
import { acquireSiteLock } from '../sites/local/lock.ts'
import { siteIds } from '../adapters/process.ts'
import { execFileSync } from 'node:child_process'

export const STACK_FLAGS = {
  stack: {
    type: 'string',
    default: LOCAL_STACK,
    help: `stack: local (the real local site) or a Pulumi stack (prod, dr)`,
  },
  inventory: { type: 'string', help: 'inventory JSON of a cloud stack (its `inventory` stack output)' },
} as const

function canSiteUserReach(dir: string): boolean {
  if (!isRoot()) return true
  try {
    execFileSync('runuser', ['-u', SITE_USER, '--', 'test', '-x', dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * The local site's state directory: `.state/local` in the repo (git-ignored). When the repo
 * sits where the postgres user cannot reach (e.g. under /root), `.state` becomes a link to
 * /var/lib/labdojo-dr/<hash>. LABDOJO_STATE_DIR overrides (tests use it).
 */
export function localStateDir(): string {
  if (process.env.LABDOJO_STATE_DIR) return process.env.LABDOJO_STATE_DIR
  const link = join(REPO_ROOT, '.state')
  if (canSiteUserReach(REPO_ROOT)) return join(link, 'local')
  const real = join('/var/lib/labdojo-dr', createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12))
  mkdirSync(real, { recursive: true, mode: 0o755 })
  let isLink = false
  try {
    isLink = lstatSync(link).isSymbolicLink()
  } catch {}
  if (!isLink && !existsSync(link)) symlinkSync(real, link)
  return join(real, 'local')
}

export function localLayout(basePortFlag?: string): Layout {
  const stateDir = localStateDir()
  const siteFile = join(stateDir, 'site.json')
  let basePort = parseBasePort(
    basePortFlag ?? process.env.LABDOJO_BASE_PORT,
    basePortFlag ? '--base-port' : 'LABDOJO_BASE_PORT',
  )
  if (!basePortFlag && existsSync(siteFile)) basePort = parseState(readFileSync(siteFile, 'utf8'), siteFile).basePort
  return layout(stateDir, basePort, siteIds().home)
}

export interface StackContext {
  stack: string
  policy: DrPolicy
  audit: AuditLog
  inventory: Inventory
  /** present for --stack local */
  site?: LocalSite
  /** a cloud stack's evidence ledger: beside its audit log (the local site keeps its own) */
  evidence?: { stack: string; file: string }
}

/** Where Pulumi.yaml and the stack files are (LABDOJO_PROJECT_DIR overrides, for tests). */
export const PROJECT_DIR = process.env.LABDOJO_PROJECT_DIR ?? REPO_ROOT

export function loadPolicyFor(stack: string): DrPolicy {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(stack))
    throw inputError('--stack', stack, 'not a stack name', `valid stacks: ${stacksIn(PROJECT_DIR).join(', ')}`)
  return loadPolicy(PROJECT_DIR, stack)
}

export function auditFor(runbook: string, stack: string): AuditLog {
  const file =
    process.env.LABDOJO_AUDIT_LOG ??
    (stack === LOCAL_STACK ? join(localStateDir(), 'audit.log') : join(REPO_ROOT, '.state', 'audit', `${stack}.log`))
  return new AuditLog(file, runbook, stack)
}

export async function loadStack(
  runbook: string,
  flags: { stack?: string; inventory?: string; 'base-port'?: string },
  o: { lock?: boolean } = {},
): Promise<StackContext> {
  const stack = flags.stack ?? LOCAL_STACK
  const policy = loadPolicyFor(stack)
  const audit = auditFor(runbook, stack)
  if (stack !== LOCAL_STACK) {
    const inventory = readCloudInventory(stack, flags.inventory)
    const evidence = { stack, file: join(dirname(audit.file), `${stack}-evidence.jsonl`) }
    return { stack, policy, audit, inventory, evidence }
  }
  if (flags.inventory)
    throw inputError(
      '--inventory',
      flags.inventory,
      'the local stack describes itself',
      'drop --inventory, or pass --stack prod|dr',
    )
  const site = new LocalSite(localLayout(flags['base-port']), policy, run)
  if (!site.exists())
    throw new InputError('local site', [
      {
        key: '--stack local',
        value: site.layout.stateDir,
        message: 'no local site is set up',
        fix: 'run `npx zx runbooks/local.ts up` (or `npm run drill`) first',
      },
    ])
  site.loadSecrets()
  anchorAuditWith(() => anchorAuditHead(site.layout, audit.file))
  // a runbook that changes the site holds its lock until it exits
  if (o.lock) await acquireSiteLock(site.layout, `${runbook} ${process.argv.slice(2).join(' ')}`.trim())
  return { stack, policy, audit, inventory: site.inventory(), site }
}

/** A cloud stack's inventory: --inventory FILE (or the flag named), else the Pulumi CLI's stack output. */
export function readCloudInventory(stack: string, file: string | undefined, flag = '--inventory'): Inventory {
  const { raw, source } = file ? readInventoryFile(file, flag) : readStackOutput(stack)
  const inv =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw)
      ? ((raw as { inventory?: unknown }).inventory ?? raw)
      : raw
  return parseInventory(inv, source)
}

function readInventoryFile(file: string, flag: string): { raw: unknown; source: string } {
  if (!existsSync(file))
    throw inputError(
      flag,
      file,
      'no such file',
      'pass the JSON written by `npm run plan -- --stack NAME` or `pulumi stack output inventory --json`',
    )
  try {
    return { raw: JSON.parse(readFileSync(file, 'utf8')), source: file }
  } catch (e) {
    throw inputError(flag, file, `is not JSON: ${(e as Error).message}`, 'pass the stack output file unchanged')
  }
}

function readStackOutput(stack: string): { raw: unknown; source: string } {
  try {
    const out = execFileSync('pulumi', ['stack', 'output', '--json', '--stack', stack], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    return { raw: JSON.parse(out), source: `pulumi stack output --stack ${stack}` }
  } catch (e) {
    throw inputError(
      '--stack',
      stack,
      `could not read the stack outputs (${firstLine(e)})`,
      'install and log in to the Pulumi CLI, or pass --inventory FILE',
    )
  }
}

/*
 * What runs on the local site only, and what to use on a cloud stack instead. A cloud stack's
 * catalog, restores into a new cluster or in place, proofs, failovers, monitoring and backups
 * (through PGO) run from these runbooks; the rest says so with exit 2 and the command to use.
 */
const CLOUD_HINT: Record<string, string> = {
  'backup.ts':
    'a restore point on a cloud stack: SELECT pg_create_restore_point(...) on its primary; files, config and source backups run where their restic repos are (--stack local)',
  'restore.ts': 'files, config and source restores read the restic repos of the site that holds them: --stack local',
  'verify.ts': 'files, config and source proofs read the restic repos of the site that holds them: --stack local',
}

export function requireLocal(ctx: StackContext, runbook: string): LocalSite {
  if (ctx.site) return ctx.site
  throw new InputError(`${runbook} on stack ${ctx.stack}`, [
    {
      key: '--stack',
      value: ctx.stack,
      message: `this part of ${runbook} runs on the local site only; on ${ctx.stack} the operator (PGO) runs the cluster`,
      fix: CLOUD_HINT[runbook] ?? 'run it with --stack local, or use the operator on the cloud stack',
    },
  ])
}
