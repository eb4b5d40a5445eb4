/**
 * The WAL of a restored primary that is not yet proven: held in a directory of its own instead of
 * the repos (node-settings' holdArchiveIn), so that a rollback leaves no abandoned timeline in the
 * archive for the standbys to follow, and released into the repos once the primary is proven.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from '../../adapters/process.ts'
import { archiveCurrentWal } from '../backup/close-wal.ts'
import { type LocalSitePort, type NodeName } from '../../sites/local-port.ts'

/**
 * Proven: the held WAL goes to the repos (the walScript's own push, repo1 then the repo2 queue),
 * oldest first, and the primary archives there itself from now on. Files the archiver held while
 * the new settings were being read are pushed too; a file pushed twice is accepted by pgBackRest
 * when it is the same.
 */
export async function releaseHeldWal(site: LocalSitePort, primary: NodeName, held: string): Promise<void> {
  const paths = site.layout.node(primary)
  const pushHeld = async () => {
    for (const f of readdirSync(held)
      .filter((x) => !x.endsWith('.part'))
      .sort())
      await site.run(site.layout.pgbackrest.walScript, ['push-held', paths.data, join(held, f)], {
        asSiteUser: true,
        timeoutMs: 120_000,
      })
  }
  await pushHeld()
  site.writeNodeSettings(primary, 'primary', { primary, syncStandbys: [] })
  await site.pg.reload(paths.data)
  // the archiver reads the new command on its own: until a segment reaches the repo, keep switching
  const conn = site.conn(primary, 'postgres')
  await waitFor(
    'the restored primary to archive into the repos',
    async () => {
      const seg = await archiveCurrentWal(conn)
      return !existsSync(join(held, seg))
    },
    120_000,
    200,
  )
  await pushHeld()
  rmSync(held, { recursive: true, force: true })
}
