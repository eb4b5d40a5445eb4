/**
 * The application tree in the catalog: per data class and repo, the newest restic snapshot and
 * its age against the class's tier RPO. Repos are read only once files backups exist (restic's
 * password is made by the first one); until then every class reads "never backed up".
 */
import { existsSync } from 'node:fs'
import { freshness, reposForClasses } from '../../../../core/files.ts'
import { classTag, type Snapshot } from '../../adapters/restic.ts'
import { firstLine } from '../../../../core/errors.ts'
import { type LocalSitePort } from '../../sites/local-port.ts'

export interface FilesCatalogRow {
  class: string
  kind: string
  tier: number
  repo: number
  snapshots: number
  newest: { id: string; time: string } | null
  ageSeconds: number | null
  rpoSeconds: number
  ok: boolean
  error?: string
}

export async function filesCatalog(site: LocalSitePort, now = new Date()): Promise<FilesCatalogRow[]> {
  const started = existsSync(site.layout.secrets.restic)
  const byRepo = new Map<number, Snapshot[] | Error>()
  if (started)
    await Promise.all(
      [1, 2].map(async (r) => {
        const down = r === 2 ? await site.repoDown(2) : undefined
        byRepo.set(
          r,
          down
            ? new Error(down)
            : await site.files
                .restic(r)
                .snapshots()
                .catch((e: Error) => e),
        )
      }),
    )
  return site.policy.files.flatMap((cls) =>
    reposForClasses([cls], undefined).map((repo): FilesCatalogRow => {
      const snaps = byRepo.get(repo)
      const mine = Array.isArray(snaps) ? snaps.filter((s) => s.tags?.includes(classTag(cls.name))) : []
      const newest = mine.at(-1)
      const f = freshness(site.policy, cls, newest, now)
      return {
        class: cls.name,
        kind: cls.kind,
        tier: cls.tier,
        repo,
        snapshots: mine.length,
        newest: newest ? { id: newest.short_id, time: newest.time } : null,
        ...f,
        ...(snaps instanceof Error ? { error: firstLine(snaps) } : {}),
      }
    }),
  )
}
