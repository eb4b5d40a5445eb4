#!/usr/bin/env zx
// Backups: full, differential, incremental (pgBackRest), logical exports, named restore points.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { parseBackupType, reposFor, type BackupRecord } from '../core/backup-policy.ts'
import { InputError, inputError } from '../core/errors.ts'
import { run } from './lib/adapters/exec.ts'
import { loadWebhooks } from './lib/adapters/notify.ts'
import type { StackContext } from './lib/cli/stack.ts'
import { pgoBackup } from './lib/ops/backup/pgo-backup.ts'
import { logicalExport, physicalBackup, requireBackupInputs, requireRepoReachable } from './lib/ops/backup/backup.ts'
import { alertNow } from './lib/ops/alert-now.ts'
import { siteWebhooks } from './lib/sites/local/secrets.ts'
import { createRestorePoint } from './lib/ops/backup/restore-points.ts'
import { formatBytes, formatDuration } from '../core/duration.ts'
import { requireLocal } from './lib/cli/stack.ts'
import { cloudLogicalExport } from './lib/ops/exports/cloud-export.ts'
import { filesBackup } from './lib/ops/files/files-backup.ts'
import { classesFor, reposForClasses } from '../core/files.ts'
import { FILE_KINDS, type FileKind } from '../core/policy.ts'

const spec = {
  name: 'backup.ts',
  summary:
    'take a backup (full, diff, incr via pgBackRest; logical via pg_dump + user-progress CSV) or create a named restore point',
  usage:
    'npx zx runbooks/backup.ts --type full|diff|incr|logical [--repo 1|2|all] [--stack local] [--json]\n       npx zx runbooks/backup.ts --type files|config|source [--class NAME] [--repo 1|2|all] [--json]\n       npx zx runbooks/backup.ts --restore-point NAME',
  resume: 're-run the same backup: pgBackRest resumes or restarts it; catalog.ts shows what the repos hold',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    type: {
      type: 'string',
      help: 'full | diff | incr | logical (the database), or files | config | source (the application tree, by restic)',
    },
    class: {
      type: 'string',
      help: 'files|config|source: one data class of policy.files (default: every class of the type)',
    },
    repo: {
      type: 'string',
      help: "1 (local), 2 (offsite S3; logical exports are sealed there under exports/) or all; default: the policy's storage for the type",
    },
    'restore-point': {
      type: 'string',
      help: 'create a named restore point (pg_create_restore_point) before risky work',
    },
    json: { type: 'boolean', help: 'print the backup record(s) as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  if (flags['restore-point'] !== undefined && flags.type)
    throw inputError(
      '--restore-point',
      flags['restore-point'],
      'cannot be combined with --type',
      'run them as two commands',
    )
  if ((FILE_KINDS as readonly string[]).includes(flags.type ?? '')) return filesBackupRun(flags)
  if (flags.class !== undefined)
    throw inputError('--class', flags.class, 'goes with --type files|config|source', 'drop --class')
  const type = flags['restore-point'] === undefined ? parseBackupType(flags.type) : undefined
  const ctx = await loadStack('backup.ts', flags, { lock: true })
  if (!ctx.site && type === 'logical') {
    // cloud stacks: PGO takes the physical backups; the export CronJobs run this
    const repos = reposFor(
      ctx.policy,
      type,
      flags.repo,
      ctx.inventory.pgbackrest.repos.map((r) => r.index),
    )
    return printRecords(
      await ctx.audit.step('backup logical', () => cloudLogicalExport(ctx.inventory, repos), {
        type,
        repos,
        stack: ctx.stack,
      }),
      !!flags.json,
    )
  }
  if (!ctx.site && (type === 'full' || type === 'diff' || type === 'incr')) return pgoBackupRun(ctx, type, !!flags.json)
  const site = requireLocal(ctx, 'backup.ts')

  if (flags['restore-point'] !== undefined) {
    site.requireCipherPass()
    const point = await ctx.audit.step('restore-point', () => createRestorePoint(site, flags['restore-point']!), {
      name: flags['restore-point'],
    })
    const when = new Date(point.time).toISOString()
    const text = `restore point "${point.name}" at LSN ${point.lsn} (${when}), archived; restore to it with --target name:${point.name}`
    return void (flags.json ? printJson(point) : log.info(text))
  }

  const repos = reposFor(
    ctx.policy,
    type!,
    flags.repo,
    ctx.inventory.pgbackrest.repos.map((r) => r.index),
  )
  requireBackupInputs(site, type!, repos)
  const hooks = siteWebhooks(site) // read before anything starts: a failure is told at once
  for (const r of repos) await requireRepoReachable(site, r, repos, flags.repo)
  const records: BackupRecord[] = await (
    type === 'logical'
      ? ctx.audit.step('backup logical', () => logicalExport(site, repos), { type, repos })
      : ctx.audit.step(`backup ${type}`, () => physicalBackup(site, type!, repos), { type, repos })
  ).catch(async (e) => {
    await alertNow(site.policy, hooks, `${type} backup into repo ${repos.join(', ')}`, (e as Error).message)
    throw e
  })
  printRecords(records, !!flags.json)
})

/** The application tree's classes (restic), into the repos their storage names. */
async function filesBackupRun(flags: { type?: string; class?: string; repo?: string; json?: boolean; stack?: string }) {
  // no site lock: the application tree's backups touch neither the database nor the site's state
  // (restic locks its own repositories), so a failover is never refused because one runs
  const ctx = await loadStack('backup.ts', flags, { lock: false })
  const site = requireLocal(ctx, 'backup.ts')
  const classes = classesFor(ctx.policy, flags.type as FileKind, flags.class)
  const repos = reposForClasses(classes, flags.repo)
  const hooks = siteWebhooks(site)
  for (const r of repos) await requireRepoReachable(site, r, repos, flags.repo)
  const records = await filesBackup(site, classes, flags.repo, ctx.audit).catch(async (e) => {
    await alertNow(site.policy, hooks, `${flags.type} backup into repo ${repos.join(', ')}`, (e as Error).message)
    throw e
  })
  if (flags.json) return printJson(records.length === 1 ? records[0] : records)
  for (const r of records)
    process.stdout.write(
      `${r.kind} backup ${r.class} -> repo${r.repo} snapshot ${r.snapshot}: ${r.files} files, ${formatBytes(r.bytes)}, ${formatBytes(r.addedBytes)} added in ${formatDuration(r.durationSeconds)}${r.pruned ? `; retention removed ${r.pruned} snapshot(s)` : ''}\n` +
        r.notes.map((n) => `  ${n}\n`).join(''),
    )
}

/** A cloud stack's physical backup: asked of PGO, its job's result awaited; a failure pages the plan's first person. */
async function pgoBackupRun(ctx: StackContext, type: 'full' | 'diff' | 'incr', json: boolean): Promise<void> {
  const hooks = loadWebhooks(ctx.policy, process.env.LABDOJO_WEBHOOKS_FILE)
  const r = await pgoBackup(run, ctx.inventory, type, ctx.audit).catch(async (e) => {
    if (!(e instanceof InputError))
      await alertNow(ctx.policy, hooks, `${type} backup of stack ${ctx.stack} (PGO)`, (e as Error).message)
    throw e
  })
  if (json) return printJson(r)
  process.stdout.write(`${type} backup ${r.id} taken by PGO into ${r.repo} in ${formatDuration(r.seconds)}\n`)
}

function printRecords(records: BackupRecord[], json: boolean): void {
  if (json) return printJson(records.length === 1 ? records[0] : records)
  for (const r of records)
    process.stdout.write(
      `${r.type} backup ${r.label} -> ${r.location}: ${formatBytes(r.copiedBytes)} copied of ${formatBytes(r.sizeBytes)}${r.storedBytes !== null ? `, ${formatBytes(r.storedBytes)} stored` : ''} in ${formatDuration(r.durationSeconds)}${r.startLsn ? `, LSN ${r.startLsn}..${r.stopLsn ?? ''}` : ''}\n`,
    )
}
