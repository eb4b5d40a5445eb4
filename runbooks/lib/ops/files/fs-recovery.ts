/**
 * The guide's file-system recovery for the local application tree, as named steps, each one
 * verified: stop the app -> restore the source in place (verified beside the live tree, then
 * swapped; the old tree kept, never `mv` then extract) -> permissions -> dependencies -> build
 * -> start -> health check. A failure names the step, and the kept tree to go back to.
 */
import { chmodSync, existsSync, lstatSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FileClass } from '../../../../core/policy.ts'
import type { AuditLog } from '../../output/audit.ts'
import { restoreFiles, walk, type FilesRestoreReport } from './files-restore.ts'
import { progress } from '../../output/interrupt.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface FsRecoveryReport {
  restored: FilesRestoreReport
  version: string
  healthUrl: string
  steps: string[]
}

export async function fsRecovery(
  site: LocalSitePort,
  source: FileClass,
  o: { at?: Date; repo?: number },
  audit: AuditLog,
): Promise<FsRecoveryReport> {
  const { layout } = site
  const tree = join(layout.app.root, source.paths[0]!)
  const steps: string[] = []
  const was = site.app.running()
  await audit.step('stop the app', () => site.app.stop())
  steps.push(was ? `stopped the app (pid ${was})` : 'the app was not running')
  const restored = await restoreFiles(site, source, { ...o, inPlace: true }, audit)
  steps.push(
    `restored ${source.name} snapshot ${restored.snapshot} in place, verified; old tree kept at ${restored.kept.join(', ') || '(none)'}`,
  )
  progress.resume = `the restored source is in place (the old tree: ${restored.kept.join(', ') || 'none'}); re-run fs-recovery.ts to redo the steps, or move the old tree back and start the app`
  const fixed = await audit.step('permissions', async () => setPermissions(tree))
  steps.push(`permissions: ${fixed} entries set (directories 0755, files readable, none group/other-writable)`)
  const npm = (args: string[]) =>
    site.run('npm', args, { cwd: tree, env: { NODE_OPTIONS: '', npm_config_node_options: '' }, timeoutMs: 600_000 })
  await audit.step('dependencies', () =>
    npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock']),
  )
  steps.push('dependencies installed (npm install --offline)')
  await audit.step('build', async () => {
    await npm(['run', '-s', 'build'])
    for (const f of ['dist/server.js', 'dist/version.json'])
      if (!existsSync(join(tree, f))) throw new Error(`the build made no ${f}`)
  })
  steps.push('built: dist/server.js, dist/version.json')
  await audit.step('start the app', async () => site.app.start())
  const version = await audit.step('health check', async () => {
    const served = await site.app.healthy()
    const want = (JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')) as { version: string }).version
    if (served !== want) throw new Error(`the app serves version ${served}, the restored source is ${want}`)
    return served
  })
  const healthUrl = `http://127.0.0.1:${layout.app.port}/health`
  steps.push(`health check: ${healthUrl} ok, version ${version}`)
  return { restored, version, healthUrl, steps }
}

/** Directories 0755; files keep their execute bits, become readable, lose group/other write. */
function setPermissions(tree: string): number {
  let n = 0
  for (const e of walk(tree)) {
    if (e.type === 'symlink' || e.path.startsWith('/.git/')) continue
    const p = join(tree, e.path)
    const want = e.type === 'dir' ? 0o755 : (lstatSync(p).mode & 0o755) | 0o444
    if ((lstatSync(p).mode & 0o777) !== want) {
      chmodSync(p, want)
      n++
    }
  }
  return n
}
