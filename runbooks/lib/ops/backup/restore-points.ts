/** Named restore points: created on the primary, archived at once, recorded in the site's catalog. */
import { join } from 'node:path'
import { inputError } from '../../../../core/errors.ts'
import type { RestorePoint } from '../../../../core/recovery.ts'
import { query } from '../../adapters/postgres.ts'
import { readRestorePoints, recordRestorePoint } from '../catalog/catalog.ts'
import { archiveCurrentWal } from './close-wal.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export const restorePointsFile = (site: LocalSitePort) => join(site.layout.stateDir, 'restore-points.jsonl')

export async function createRestorePoint(site: LocalSitePort, name: string): Promise<RestorePoint> {
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(name))
    throw inputError(
      '--restore-point',
      name,
      'must be 1-63 letters, digits, _ . -',
      'e.g. --restore-point before-migration-42',
    )
  if (readRestorePoints(restorePointsFile(site)).some((p) => p.name === name))
    throw inputError(
      '--restore-point',
      name,
      'already exists; restoring to a duplicated name would stop at the first one',
      'pick a new name',
    )
  const primary = site.conn(site.state().primary, 'postgres')
  const [r] = await query<{ lsn: string; t: Date }>(
    primary,
    `SELECT pg_create_restore_point($1)::text AS lsn, clock_timestamp() AS t`,
    [name],
  )
  // a restore point is only usable once its WAL is in the archive
  await archiveCurrentWal(primary)
  const point = { name, lsn: r!.lsn, time: r!.t.getTime() }
  recordRestorePoint(restorePointsFile(site), point)
  return point
}
