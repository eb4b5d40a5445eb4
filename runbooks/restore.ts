#!/usr/bin/env zx
// Point-in-time restore: into a new cluster by default, or safely in place.
import { HELP_FLAG, runbook, confirm } from './lib/cli/frame.ts'
import { log, printJson } from './lib/output/log.ts'
import { STACK_FLAGS, loadStack } from './lib/cli/stack.ts'
import { requireLocal } from './lib/cli/stack.ts'
import { parseTarget, describeTarget, TARGET_FORMS } from '../core/recovery-target.ts'
import { planText, prepare, type RestoreReport } from './lib/ops/restore/plan.ts'
import { restoreNew } from './lib/ops/restore/new-cluster.ts'
import { recordOutcome } from './lib/ops/evidence/ledger.ts'
import { restoreInPlace } from './lib/ops/restore/in-place.ts'
import { parsePort, parseRepo } from './lib/cli/flags.ts'
import { formatDuration } from '../core/duration.ts'
import { FILE_KINDS, type FileKind } from '../core/policy.ts'
import { classesFor } from '../core/files.ts'
import { parseFilesRestore } from './lib/cli/flags.ts'
import { restoreFiles } from './lib/ops/files/files-restore.ts'
import type { RecoveryTarget } from '../core/recovery-target.ts'
import { run } from './lib/adapters/exec.ts'
import type { StackContext } from './lib/cli/stack.ts'
import { cloudRestore } from './lib/ops/restore/cloud-restore.ts'
import { CLOUD_RESTORE_PORTS } from './lib/sites/cloud/scratch-host.ts'
import { cloudRestoreInPlace } from './lib/ops/restore/pgo-restore.ts'

const spec = {
  name: 'restore.ts',
  summary: 'restore to a point in time: into a new cluster (default), or in place after verifying the replacement',
  usage:
    'npx zx runbooks/restore.ts --target latest|<ISO-8601 time>|lsn:<LSN>|name:<point>|immediate [--repo N] [--into DIR] [--port P] [--in-place] [--yes] [--dry-run] [--json]\n       npx zx runbooks/restore.ts --files|--config|--source [--class NAME] [--at TIME] [--repo N] (--into DIR | --in-place --yes) [--json]',
  resume:
    'nothing is half done: a new-cluster restore removed its directory, an in-place one brought the original back (see the lines above); re-run the same command',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    target: { type: 'string', help: TARGET_FORMS },
    repo: {
      type: 'string',
      help: 'restore from this repo only (2 = offsite, as the cold site does); default: repo1, else repo2',
    },
    into: {
      type: 'string',
      help: "new cluster: an absolute, new or empty directory (default: under the site's scratch dir)",
    },
    port: { type: 'string', help: 'new cluster: its port (default: the first free scratch port)' },
    'in-place': { type: 'boolean', help: 'replace the primary (asks for confirmation; the old directory is kept)' },
    yes: { type: 'boolean', help: 'confirm --in-place without asking' },
    'accept-data-loss': {
      type: 'boolean',
      help: '--in-place --target latest with the primary down: restore to the newest archived commit, losing what it never archived',
    },
    'dry-run': { type: 'boolean', help: 'print the plan (backup set, repo, WAL to replay, target) and change nothing' },
    files: { type: 'boolean', help: "the application tree's files classes (uploads, logs, ...), from restic" },
    config: { type: 'boolean', help: "the application's configuration, from restic" },
    source: { type: 'boolean', help: 'the source: the checkout rebuilt from the bundle and the archive' },
    class: { type: 'string', help: '--files|--config|--source: one class of policy.files' },
    at: { type: 'string', help: '--files|--config|--source: the newest snapshot at or before this ISO-8601 time' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  const kinds = FILE_KINDS.filter((k) => flags[k])
  if (kinds.length) return filesRestoreRun(flags, kinds)
  const target = parseTarget(flags.target)
  const ctx = await loadStack('restore.ts', flags, { lock: !flags['dry-run'] })
  if (!ctx.site) return cloudRestoreRun(ctx, flags, target)
  const site = requireLocal(ctx, 'restore.ts')
  site.requireCipherPass()
  const opts = {
    target,
    repo: parseRepo(
      flags.repo,
      ctx.inventory.pgbackrest.repos.map((r) => r.index),
    ),
    into: flags.into,
    port: parsePort(flags.port, site.layout.ports.scratchFirst),
    inPlace: !!flags['in-place'],
    dryRun: !!flags['dry-run'],
    acceptDataLoss: !!flags['accept-data-loss'],
  }
  const { plan } = await ctx.audit.step('plan restore', () => prepare(site, opts), {
    target: describeTarget(target),
    repo: opts.repo ?? 'auto',
  })
  const where = opts.inPlace
    ? `${site.layout.node(site.state().primary).data} (in place, after verification)`
    : (opts.into ?? `${site.layout.scratchDir}/restore-<time>-<port>`)
  if (opts.dryRun) {
    ctx.audit.record('restore', 'dry-run', { target: describeTarget(target), repo: plan.repo, set: plan.backup.label })
    if (flags.json) printJson({ mode: 'dry-run', plan })
    else
      process.stdout.write(
        planText(
          plan,
          where,
          opts.port ?? (opts.inPlace ? site.port(site.state().primary) : 'first free scratch port'),
        ) + '\n(dry run: nothing was changed)\n',
      )
    return
  }
  log.info(planText(plan, where, opts.port ?? (opts.inPlace ? site.port(site.state().primary) : 'auto')))
  if (opts.inPlace)
    await confirm(
      `In-place restore replaces the data of primary ${site.state().primary} with ${describeTarget(target)}; commits after it will no longer be served (the old directory is kept).`,
      !!flags.yes,
    )
  const report = await (
    opts.inPlace ? restoreInPlace(site, opts, plan, ctx.audit) : restoreNew(site, opts, plan, ctx.audit)
  ).catch(async (error) => {
    await recordOutcome(site, 'restore', { error })
    throw error
  })
  await recordOutcome(site, 'restore', { report: { ...report } })
  if (flags.json) return void printJson(report)
  process.stdout.write(renderRestore(report))
})

/** A cloud stack: the cold site's path, from the stack's vaults into a new cluster on this machine. */
async function cloudRestoreRun(
  ctx: StackContext,
  flags: Record<string, string | boolean | undefined>,
  target: RecoveryTarget,
): Promise<void> {
  const o = {
    target,
    repo: parseRepo(
      flags.repo as string | undefined,
      ctx.inventory.pgbackrest.repos.map((r) => r.index),
    ),
    into: flags.into as string | undefined,
    port: parsePort(flags.port as string | undefined, CLOUD_RESTORE_PORTS.first),
    inPlace: !!flags['in-place'],
    dryRun: !!flags['dry-run'],
  }
  if (o.inPlace) {
    const p = await cloudRestoreInPlace(run, ctx.inventory, o, ctx.audit, (q) => confirm(q, !!flags.yes))
    if (flags.json)
      return void printJson(
        p.result ? { mode: 'in-place', ...p.result, plan: p.plan } : { mode: 'dry-run', plan: p.plan },
      )
    if (!p.result) return void process.stdout.write(`${p.text}\n(dry run: nothing was changed)\n`)
    return void process.stdout.write(
      `restored in place by PGO (${p.result.id}, ${formatDuration(p.result.seconds)}); ${p.result.erasures}; the primary answers and took a write\n`,
    )
  }
  const r = await cloudRestore(run, ctx.inventory, o, ctx.audit)
  if (flags.json) return void printJson(r.report ?? { mode: 'dry-run', plan: r.plan })
  if (r.report) return void process.stdout.write(renderRestore(r.report))
  process.stdout.write(planText(r.plan, r.dest.into, r.dest.port) + '\n(dry run: nothing was changed)\n')
}

/** --files|--config|--source: each class restored, verified file by file, and placed (new directory or in place). */
async function filesRestoreRun(flags: Record<string, string | boolean | undefined>, kinds: FileKind[]) {
  const o = parseFilesRestore(flags, kinds)
  const ctx = await loadStack('restore.ts', flags, { lock: true })
  const site = requireLocal(ctx, 'restore.ts')
  const classes = kinds.flatMap((k) => classesFor(ctx.policy, k, flags.class as string | undefined))
  if (o.inPlace)
    await confirm(
      `In-place restore replaces ${classes.flatMap((c) => c.paths).join(', ')} under ${site.layout.app.root} (the current trees are kept beside them).`,
      !!flags.yes,
    )
  const reports = []
  for (const cls of classes) reports.push(await restoreFiles(site, cls, o, ctx.audit))
  if (flags.json) return printJson(reports)
  for (const r of reports)
    process.stdout.write(
      [
        `restored ${r.class} from repo${r.repo} snapshot ${r.snapshot} (${r.time}): ${r.files} files, every one read back against its hash and its mode checked`,
        ...r.placed.map((p) => `  now at ${p}`),
        ...r.kept.map((k) => `  old tree kept at ${k}`),
        ...r.notes.map((n) => `  note: ${n}`),
      ].join('\n') + '\n',
    )
}

function renderRestore(report: RestoreReport): string {
  return (
    [
      `restored ${report.target} from repo${report.repo} (${report.backupType} ${report.backup})`,
      `reached: ${report.reached?.time ?? 'unknown time'}${report.reached?.lsn ? `, redo done at ${report.reached.lsn}` : ''}${report.reached?.detail ? ` (${report.reached.detail})` : ''}`,
      `timings: ${Object.entries(report.timings)
        .map(([k, v]) => `${k.replace(/Seconds$/, '')} ${formatDuration(v)}`)
        .join(', ')}`,
      `connect: ${report.connect}`,
      ...report.notes.map((n) => `note: ${n}`),
    ].join('\n') + '\n'
  )
}
