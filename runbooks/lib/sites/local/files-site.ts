/**
 * The local site's files side: restic's password (generated once, 0600 beside the other
 * secrets, never in argv or logs) and its two repositories, in the same two places the
 * database's backups live: repo1's local storage and the offsite S3 bucket (verified TLS).
 */
import { existsSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { inputError } from '../../../../core/errors.ts'
import { mkdirForSiteUser } from '../../adapters/process.ts'
import { Restic } from '../../adapters/restic.ts'
import { registerSecret } from '../../output/redact.ts'
import { BUCKET, type Layout } from './layout.ts'
import { s3Key, writeSecretFile } from './secrets.ts'
import type { SiteHandle } from './handle.ts'

/** The password file, made on first use; refused when repositories exist that it would orphan. */
export function ensureResticPassword(layout: Layout): void {
  const file = layout.secrets.restic
  if (!existsSync(file)) {
    if (existsSync(layout.app.restic1))
      throw inputError(
        'restic password',
        `${file} does not exist`,
        'the files repositories exist and a new password could not read them; nothing was changed',
        `put the password back from your secret store into ${file} (mode 0600)`,
      )
    mkdirForSiteUser(layout.secrets.dir, 0o700)
    writeSecretFile(file, randomBytes(48).toString('base64url'))
  }
  registerSecret(readFileSync(file, 'utf8').trim())
}

/** restic on repo `n` of the site (1 = local disk, 2 = offsite S3). */
export function resticFor(site: SiteHandle, repo: number): Restic {
  const { layout } = site
  const common = { repo, passwordFile: layout.secrets.restic, cacheDir: join(layout.stateDir, 'restic-cache') }
  if (repo === 1) return new Restic(site.run, { ...common, url: layout.app.restic1 })
  return new Restic(site.run, {
    ...common,
    url: `s3:https://127.0.0.1:${layout.ports.s3}/${BUCKET}/restic`,
    cacert: layout.s3.cert,
    s3: s3Key(layout),
  })
}
