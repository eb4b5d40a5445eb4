#!/usr/bin/env zx
// Prove backups restorable: equal to the warm standby at an exact LSN, structurally sound, within the objectives.
import { HELP_FLAG, runbook } from './lib/cli/frame.ts'
import { parseRepo } from './lib/cli/flags.ts'
import { STACK_FLAGS, loadStack, requireLocal } from './lib/cli/stack.ts'
import { printJson } from './lib/output/log.ts'
import { alertNow } from './lib/ops/alert-now.ts'
import { siteWebhooks } from './lib/sites/local/secrets.ts'
import { proveFiles } from './lib/ops/files/files-proof.ts'
import { inputError } from '../core/errors.ts'
import { run } from './lib/adapters/exec.ts'
import { loadWebhooks } from './lib/adapters/notify.ts'
import type { StackContext } from './lib/cli/stack.ts'
import { renderCloudProofs, verifyCloudRepos } from './lib/ops/verify/cloud-verify.ts'
import {
  parseBackupSelector,
  readCatalogs,
  renderProofs,
  selectBackups,
  unlistedRepos,
  verifyBackups,
} from './lib/ops/verify/verify.ts'

const spec = {
  name: 'verify.ts',
  summary:
    'prove backups restorable: restore each into a scratch cluster at the exact LSN the warm standby is paused at, compare every table, check structure and the tier-1 objectives; every proof goes to the evidence ledger',
  usage:
    'npx zx runbooks/verify.ts [--backup LABEL|latest|pending] [--repo N|all] [--heapallindexed] [--synced] [--keep] [--json]\n       npx zx runbooks/verify.ts --stack prod|dr --inventory FILE [--repo N|all] [--reference NODE] [--heapallindexed] [--json]\n       npx zx runbooks/verify.ts --files [--repo N|all] [--json]   (the application tree: restic check + the newest snapshot of each class restored and compared)',
  flags: {
    ...HELP_FLAG,
    ...STACK_FLAGS,
    backup: {
      type: 'string',
      help: 'LABEL, latest (the newest in each repo, default) or pending (every backup without a proof)',
    },
    repo: { type: 'string', help: "N or all (default): repo 2 alone is the cold site's path" },
    files: {
      type: 'boolean',
      help: "prove the application tree's snapshots instead (every class of policy.files, newest snapshot)",
    },
    keep: {
      type: 'boolean',
      help: 'keep the scratch cluster (stopped on failure, running on success) for inspection; it is written durably',
    },
    synced: {
      type: 'boolean',
      help: 'write the scratch restore durably, as a real restore does, so that its RTO counts the syncing (by default a scratch thrown away once read is never synced)',
    },
    reference: {
      type: 'string',
      help: "a cloud stack's standby to compare each restore with, row by row, at one exact LSN (default: the warm site's standby, if any); its replay pauses meanwhile",
    },
    heapallindexed: {
      type: 'boolean',
      help: 'also look every heap row up in every index (pg_amcheck --heapallindexed): finds an index missing entries; re-reads each table once per index',
    },
    json: { type: 'boolean', help: 'machine-readable output' },
  },
} as const

await runbook(spec, import.meta.url, async ({ flags }) => {
  if (flags.files) return proveFilesRun(flags)
  const selector = parseBackupSelector(flags.backup)
  const ctx = await loadStack('verify.ts', flags, { lock: true })
  if (!ctx.site) return proveCloudRun(ctx, flags)
  if (flags.reference !== undefined)
    throw inputError(
      '--reference',
      flags.reference,
      "is for cloud stacks: the local site's reference is its warm standby",
      'drop --reference',
    )
  const site = requireLocal(ctx, 'verify.ts')
  site.requireCipherPass()
  const available = site.inventory().pgbackrest.repos.map((r) => r.index)
  const repo = flags.repo === 'all' ? undefined : parseRepo(flags.repo, available)
  const catalogs = await readCatalogs(site, repo ? [repo] : available)
  const backups = selectBackups(catalogs, selector, site.layout.evidenceFile)
  const hooks = siteWebhooks(site)
  const checks = { keep: !!flags.keep, synced: !!flags.synced, heapAllIndexed: !!flags.heapallindexed }
  const proofs = await verifyBackups(site, catalogs, backups, checks, ctx.audit)
  const unlisted = unlistedRepos(catalogs)
  for (const u of unlisted) await alertNow(site.policy, hooks, `the proofs of repo ${u.repo}`, u.reason)
  for (const p of proofs.filter((x) => x.verdict !== 'proven'))
    await alertNow(site.policy, hooks, `the proof of ${p.backup} (repo ${p.repo})`, p.reason)
  if (flags.json) printJson({ proofs, unlisted })
  else process.stdout.write(renderProofs(proofs, unlisted))
  return !unlisted.length && proofs.every((p) => p.verdict === 'proven') ? 0 : 1
})

/** A cloud stack: each vault's newest backup proven on this machine (checksums, restore alone, structure). */
async function proveCloudRun(ctx: StackContext, flags: Record<string, string | boolean | undefined>) {
  if (flags.backup !== undefined && flags.backup !== 'latest')
    throw inputError(
      '--backup',
      flags.backup,
      'on a cloud stack the newest backup of each repo is proven',
      'drop --backup',
    )
  const repos = ctx.inventory.pgbackrest.repos.map((r) => r.index)
  const repo = flags.repo === 'all' ? undefined : parseRepo(flags.repo as string | undefined, repos)
  const hooks = loadWebhooks(ctx.policy, process.env.LABDOJO_WEBHOOKS_FILE)
  const checks = { repo, heapAllIndexed: !!flags.heapallindexed, reference: flags.reference as string | undefined }
  const proofs = await verifyCloudRepos(run, ctx.inventory, ctx.policy, checks, ctx.audit)
  for (const p of proofs.filter((x) => x.verdict !== 'proven'))
    await alertNow(ctx.policy, hooks, `the proof of repo ${p.repo} of stack ${ctx.stack}`, p.reason)
  if (flags.json) printJson({ stack: ctx.stack, proofs })
  else process.stdout.write(renderCloudProofs(ctx.stack, proofs))
  return proofs.every((p) => p.verdict === 'proven') ? 0 : 1
}

async function proveFilesRun(flags: {
  repo?: string
  json?: boolean
  backup?: string
  keep?: boolean
  heapallindexed?: boolean
  stack?: string
}) {
  if (flags.backup || flags.keep || flags.heapallindexed)
    throw inputError(
      '--files',
      true,
      'proves the newest snapshot of each class',
      'drop --backup, --keep and --heapallindexed',
    )
  const ctx = await loadStack('verify.ts', flags, { lock: true })
  const site = requireLocal(ctx, 'verify.ts')
  const repos = flags.repo === undefined || flags.repo === 'all' ? undefined : [parseRepo(flags.repo, [1, 2])!]
  const proofs = await proveFiles(site, site.policy.files, repos, ctx.audit)
  const hooks = siteWebhooks(site)
  for (const p of proofs.filter((x) => x.verdict !== 'proven'))
    await alertNow(site.policy, hooks, `the proof of ${p.class} files (repo ${p.repo})`, p.reason)
  if (flags.json) printJson({ proofs })
  else
    for (const p of proofs)
      process.stdout.write(
        `${p.verdict.toUpperCase().padEnd(7)} ${p.class} repo${p.repo} ${p.snapshot ?? '-'}: ${p.reason}\n`,
      )
  return proofs.every((p) => p.verdict === 'proven') ? 0 : 1
}
