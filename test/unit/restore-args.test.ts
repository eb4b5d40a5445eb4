import { describe, expect, it } from 'vitest'
import { planRestore, type CatalogBackup, type RepoCatalog } from '../../core/recovery.ts'
import { type RecoveryTarget } from '../../core/recovery-target.ts'
import { layout } from '../../runbooks/lib/sites/local/layout.ts'
import { recoveryFailure, restoreArgs, RESTORE_PROCESSES } from '../../runbooks/lib/ops/restore/cluster.ts'
import { restoredClusterOptions } from '../../runbooks/lib/sites/local/scratch-host.ts'
import { SiteHandle } from '../../runbooks/lib/sites/local/handle.ts'
import { loadPolicy } from '../../config/project-files.ts'
import { run } from '../../runbooks/lib/adapters/exec.ts'
import { PgBackRest } from '../../runbooks/lib/adapters/pgbackrest.ts'
import { ROOT } from '../helpers/site.ts'

const site = layout('/srv/labdojo/.state/local', 25400, '/var/lib/postgresql')
const repos = new SiteHandle(site, loadPolicy(ROOT, 'local'), run).repos
const H = 3600_000
const T0 = Date.parse('2026-11-27T00:00:00Z')
const backup: CatalogBackup = {
  label: '20261127-000000F',
  type: 'full',
  repo: 1,
  start: T0,
  stop: T0 + 60_000,
  lsnStart: '0/2000028',
  lsnStop: '0/2000100',
  size: 1,
  repoSize: 1,
  error: false,
}
const catalog = (repo: number): RepoCatalog => ({
  repo,
  backups: [{ ...backup, repo }],
  archiveMin: '000000010000000000000002',
  archiveMax: '000000010000000000000009',
  earliest: { time: T0 + 60_000, lsn: '0/2000100' },
  latest: { time: T0 + 2 * H, lsn: '0/9000000' },
  reachable: true,
})
const plan = (t: RecoveryTarget, repo = 1) => planRestore(t, [catalog(1), catalog(2)], [], repo)

describe('pgBackRest restore arguments', () => {
  it('a new cluster: the chosen repo and set, promote at the target, never archive, WAL from the same repo', () => {
    const at = T0 + H
    const args = restoreArgs(repos, plan({ kind: 'time', at, text: '' }, 2), '/scratch/r1', 'promote')
    expect(args).toEqual(
      expect.arrayContaining([
        '--pg1-path=/scratch/r1',
        '--repo=2',
        `--set=${backup.label}`,
        '--no-delta',
        '--type=time',
        '--target=2026-11-27 01:00:00.000+00',
        '--target-action=promote',
        '--archive-mode=off',
      ]),
    )
    // the restore is the RTO: more processes than the backups' configured two
    expect(args).toContain(`--process-max=${RESTORE_PROCESSES}`)
    expect(RESTORE_PROCESSES).toBeGreaterThanOrEqual(2)
    const restoreCommand = args.find((a) => a.startsWith('--recovery-option=restore_command='))!
    expect(restoreCommand).toContain('--repo=2 --archive-async=n archive-get %f "%p"')
    expect(restoreCommand).toContain('--pg1-path=/scratch/r1')
    // never the site's own spool: a restore empties it, and the primary's archive-push status lives there
    const spool = args.find((a) => a.startsWith('--spool-path='))!
    expect(spool).toBe(`--spool-path=${site.scratchDir}/restore-spool`)
    expect(spool).not.toContain(site.pgbackrest.spool)
  })

  it('held for verification: pauses at a point target instead of promoting, and archives as the site does', () => {
    const args = restoreArgs(repos, plan({ kind: 'lsn', lsn: '0/5000000' }), '/staging', 'hold')
    expect(args).toContain('--target-action=pause')
    expect(args).not.toContain('--target-action=promote')
    expect(args).not.toContain('--archive-mode=off')
  })

  it("a cloud stack's repos: held or promoted, a restored cluster never archives; WAL with the vault's own configuration", () => {
    const cloud = {
      br: new PgBackRest(run, { config: '/tmp/c/pgbackrest.conf', includePath: '/tmp/c/conf.d', stanza: 'db' }),
      neverArchive: true,
    }
    const args = restoreArgs(cloud, plan({ kind: 'lsn', lsn: '0/5000000' }), '/x/held', 'hold')
    expect(args).toContain('--archive-mode=off')
    expect(args.some((a) => a.startsWith('--spool-path='))).toBe(false)
    expect(args.find((a) => a.startsWith('--recovery-option=restore_command='))).toBe(
      '--recovery-option=restore_command=pgbackrest --config=/tmp/c/pgbackrest.conf --stanza=db --config-include-path=/tmp/c/conf.d --pg1-path=/x/held --repo=1 --archive-async=n archive-get %f "%p"',
    )
  })

  it('held at latest: stays a standby (replays everything, never ends recovery by itself)', () => {
    const args = restoreArgs(repos, plan({ kind: 'latest' }), '/staging', 'hold')
    expect(args).toContain('--type=standby')
    expect(args).not.toContain('--type=default')
  })

  it('a restored cluster starts on its own port and name, without archiving or synchronous waits', () => {
    const o = restoredClusterOptions(25410, 'restore-25410', '/run/x')
    expect(o).toBe(
      '-p 25410 -c archive_mode=off -c cluster_name=restore-25410 -c synchronous_standby_names= -c unix_socket_directories=/run/x -c hot_standby=on',
    )
  })
})

describe('why a restored cluster stopped during recovery, from its log', () => {
  it('names the segment pgBackRest could not get, and why', () => {
    const log = [
      'ERROR: [042]: unable to get 00000003000000000000001C:',
      '       repo1: 15-1/0000000300000000/00000003000000000000001C-80c4.lz4 [FormatError] lz4 error: [-13] ERROR_frameType_unknown',
      '2026-11-27 11:00:48.159 UTC [32252] FATAL:  recovery ended before configured recovery target was reached',
    ].join('\n')
    expect(recoveryFailure(log, 1)).toMatch(
      /^recovery ended before the target: 00000003000000000000001C is missing from repo1's WAL archive or unreadable \(repo1: .*lz4 error/,
    )
  })

  it('else names the segment after the last one restored', () => {
    const log =
      'LOG:  restored log file "000000010000000000000005" from archive\nFATAL:  recovery ended before configured recovery target was reached'
    expect(recoveryFailure(log, 2)).toMatch(
      /000000010000000000000006 is missing from repo2's WAL archive or unreadable \(the last segment restored was 000000010000000000000005\)/,
    )
  })

  it('a time target past every archived commit: says the archive may simply end there, not only "missing"', () => {
    const log = [
      'LOG:  starting point-in-time recovery to 2026-12-07 00:35:50+00',
      'LOG:  restored log file "000000010000000000000005" from archive',
      'FATAL:  recovery ended before configured recovery target was reached',
    ].join('\n')
    expect(recoveryFailure(log, 1)).toMatch(
      /found no commit after the target\. Either no commit after it had been archived yet .* or 000000010000000000000006 is missing from the archive/,
    )
  })

  it('a segment missing before the backup is even consistent is named the same way', () => {
    const log =
      'LOG:  restored log file "00000001000000000000000C" from archive\nFATAL:  WAL ends before consistent recovery point'
    expect(recoveryFailure(log, 1)).toMatch(
      /^recovery ended before the backup was consistent: 00000001000000000000000D is missing from repo1's WAL archive/,
    )
  })

  it("the segment of the backup's starting checkpoint missing: named from backup_label", () => {
    // from a standby, the starting checkpoint record can lie segments after the redo point
    const label = 'START WAL LOCATION: 0/A000028 (file 00000001000000000000000A)\nCHECKPOINT LOCATION: 0/C000060\n'
    expect(recoveryFailure('FATAL:  could not locate required checkpoint record', 1, label)).toMatch(
      /^recovery could not start: 00000001000000000000000C is missing from repo1's WAL archive or unreadable, and it holds the backup's starting checkpoint \(backup_label\)/,
    )
  })

  it('any other stop is reported with its last FATAL', () => {
    expect(recoveryFailure('FATAL:  could not locate required checkpoint record', 1)).toBe(
      'the restored cluster stopped during recovery: could not locate required checkpoint record',
    )
  })
})
