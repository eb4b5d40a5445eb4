/**
 * Files backup (issue 13): restic (ours) against `tar | zstd` of the same generated application
 * tree (about 500 MB of uploads at --scale 1), in the same run, into local storage:
 *   first backup: restic time / tar|zstd time (target <= 1.5)
 *   a second backup after 1% of the upload files changed: its time / the first one's (target < 0.10)
 * No site is needed: the tree and the repository live in a scratch directory.
 */
import { parseArgs } from 'node:util'
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { table, timed } from './lib.ts'
import { run } from '../runbooks/lib/adapters/exec.ts'
import { ensureAppTree } from '../runbooks/lib/sites/local/app-tree.ts'
import { Restic, classTag } from '../runbooks/lib/adapters/restic.ts'
import { walkFiles } from '../runbooks/lib/adapters/process.ts'

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' } } })
const dir = mkdtempSync('/var/tmp/labdojo-bench-files-')
try {
  const app = join(dir, 'app')
  await ensureAppTree(run, app, Number(values.scale))
  const uploads = walkFiles(join(app, 'uploads'))
  const bytes = uploads.reduce((n, f) => n + statSync(f).size, 0)
  process.stderr.write(`tree: ${uploads.length} upload files, ${(bytes / 2 ** 20).toFixed(0)} MiB\n`)
  const password = join(dir, 'password')
  writeFileSync(password, randomBytes(32).toString('hex'))
  chmodSync(password, 0o600)
  const restic = new Restic(run, {
    repo: 1,
    url: join(dir, 'restic'),
    passwordFile: password,
    cacheDir: join(dir, 'cache'),
  })
  await restic.ensureInit()
  await run('sync', [])
  const [tarSeconds] = await timed(() =>
    run('bash', [
      '-o',
      'pipefail',
      '-c',
      `tar -C "$0" -cf - uploads logs config | zstd -q -T0 -o "$1"`,
      app,
      join(dir, 'tree.tar.zst'),
    ]),
  )
  await run('sync', [])
  const paths = ['uploads', 'logs', 'config']
  const [firstSeconds, first] = await timed(() => restic.backup(app, paths, [classTag('bench')]))
  // 1% of the upload files change (rewritten with new content of the same size)
  const changed = uploads.filter((_, i) => i % 100 === 0)
  for (const f of changed) writeFileSync(f, randomBytes(statSync(f).size))
  await run('sync', [])
  const [secondSeconds, second] = await timed(() => restic.backup(app, paths, [classTag('bench')]))
  const tarBytes = statSync(join(dir, 'tree.tar.zst')).size
  const repoBytes = walkFiles(join(dir, 'restic')).reduce((n, f) => n + statSync(f).size, 0)
  process.stdout.write(
    table([
      ['what', 'seconds', 'stored MiB', 'ratio', 'target'],
      ['tar | zstd (baseline)', tarSeconds, (tarBytes / 2 ** 20).toFixed(0), '1.00', ''],
      [
        'restic first backup',
        firstSeconds,
        (first.data_added / 2 ** 20).toFixed(0),
        (firstSeconds / tarSeconds).toFixed(2),
        '<= 1.50 x tar',
      ],
      [
        `restic after ${changed.length} files changed (1%)`,
        secondSeconds,
        (second.data_added / 2 ** 20).toFixed(1),
        (secondSeconds / firstSeconds).toFixed(3),
        '< 0.10 x first',
      ],
    ]) +
      `\nrepository on disk after both: ${(repoBytes / 2 ** 20).toFixed(0)} MiB; files in the tree: ${readdirSync(app).join(', ')}\n`,
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
