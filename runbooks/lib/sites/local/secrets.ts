/**
 * The site's secrets: the repo2 cipher pass and the S3 keys, in one file (0600, owned by the
 * site user, outside the repo) that pgBackRest reads through --config-include-path. Generated
 * once for a new site; never printed, never on a command line; registered with the redactor.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { inputError } from '../../../../core/errors.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import { registerSecret } from '../../output/redact.ts'
import { bouncerUsersFile, pgbackrestSecretsConf, pgpassFile } from './config-files.ts'
import { passwordFor } from '../../adapters/postgres.ts'
import type { Layout } from './layout.ts'
import { join } from 'node:path'
import type { DrPolicy } from '../../../../core/policy.ts'
import { loadWebhooks, type Webhook } from '../../adapters/notify.ts'

/** s3rver's built-in key pair, public knowledge: a site that still has it gets its own (ensureS3Key). */
const PUBLIC_S3_KEY = 'S3RVER'

const newS3Key = () => ({
  key: `LD${randomBytes(9).toString('hex').toUpperCase()}`,
  secret: randomBytes(30).toString('base64url'),
})

/**
 * Generate the repo2 cipher pass once, for a new site; true when it did. An existing site whose
 * pass is gone is refused: a new pass could not read repo2.
 */
export function ensureCipherPass(layout: Layout, freshSite: boolean): boolean {
  const file = layout.secrets.pgbackrest
  if (!freshSite || existsSync(file)) {
    requireCipherPass(layout)
    return false
  }
  mkdirForSiteUser(layout.secrets.dir, 0o700)
  const pass = randomBytes(48).toString('base64url')
  const s3 = newS3Key()
  writeFileSync(file, pgbackrestSecretsConf(pass, s3.key, s3.secret), { mode: 0o600 })
  giveToSiteUser(file)
  return true
}

/**
 * The offsite store's key, the site's own: a site made before the store checked signatures has
 * s3rver's public S3RVER pair (or none), and gets a new random pair in place (the store is
 * restarted with it). True when it wrote one.
 */
export function ensureS3Key(layout: Layout): boolean {
  const file = layout.secrets.pgbackrest
  if (!existsSync(file)) return false
  const kv = readSecrets(layout)
  if (kv['repo2-s3-key'] && kv['repo2-s3-key'] !== PUBLIC_S3_KEY && kv['repo2-s3-key-secret']) return false
  const s3 = newS3Key()
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l && !/^repo2-s3-key(-secret)?=/.test(l))
  writeSecretFile(file, [...kept, `repo2-s3-key=${s3.key}`, `repo2-s3-key-secret=${s3.secret}`].join('\n') + '\n')
  return true
}

/** The offsite store's key pair (from the secrets file, or the environment that stands in for it). */
export function s3Key(layout: Layout, env = process.env): { accessKeyId: string; secretAccessKey: string } {
  const kv = readSecrets(layout)
  const accessKeyId = env.PGBACKREST_REPO2_S3_KEY ?? kv['repo2-s3-key']
  const secretAccessKey = env.PGBACKREST_REPO2_S3_KEY_SECRET ?? kv['repo2-s3-key-secret']
  if (!accessKeyId || !secretAccessKey)
    throw inputError(
      'offsite store key',
      `${layout.secrets.pgbackrest} has no repo2-s3-key / repo2-s3-key-secret`,
      'every request to the offsite store must be signed with the site’s key',
      'run local.ts up (it writes a new key for the store it starts), or put the lines back from your secret store',
    )
  return { accessKeyId, secretAccessKey }
}

/**
 * The postgres role's password (SCRAM on every TCP connection): generated once into libpq's
 * password file and PgBouncer's auth file, both 0600 beside the cipher pass. True when it wrote
 * either. The database learns it in provision's ensureDbAuth.
 */
export function ensureDbPassword(layout: Layout): boolean {
  mkdirForSiteUser(layout.secrets.dir, 0o700)
  let wrote = false
  const ports = [...new Set(Object.values(layout.ports))]
  for (let p = layout.ports.scratchFirst; p <= layout.ports.scratchLast; p++) if (!ports.includes(p)) ports.push(p)
  const password = dbPassword(layout) ?? randomBytes(32).toString('base64url')
  const pgpass = pgpassFile(
    password,
    ports.sort((a, b) => a - b),
  )
  if (!existsSync(layout.secrets.pgpass) || readFileSync(layout.secrets.pgpass, 'utf8') !== pgpass) {
    writeSecretFile(layout.secrets.pgpass, pgpass)
    wrote = true
  }
  const users = bouncerUsersFile(password)
  if (!existsSync(layout.secrets.bouncerUsers) || readFileSync(layout.secrets.bouncerUsers, 'utf8') !== users) {
    writeSecretFile(layout.secrets.bouncerUsers, users)
    wrote = true
  }
  return wrote
}

/** The postgres role's password from the site's password file (undefined when there is none). */
export function dbPassword(layout: Layout): string | undefined {
  if (!existsSync(layout.secrets.pgpass)) return undefined
  const file = layout.secrets.pgpass
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => /:postgres:/.test(l))
  return line ? passwordFor({ host: '127.0.0.1', port: Number(line.split(':')[1]), passfile: file }) : undefined
}

/** A secret file: 0600, owned by the site user, in the secrets directory outside the repo. */
export function writeSecretFile(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 })
  chmodSync(file, 0o600)
  giveToSiteUser(file)
}

/** The secrets file's key=value lines ({} when it is absent). */
export function readSecrets(layout: Layout): Record<string, string> {
  const file = layout.secrets.pgbackrest
  if (!existsSync(file)) return {}
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => /^([\w-]+)=(.+)$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  )
}

/** Why pgBackRest cannot get repo2's cipher pass; undefined when it can. */
/** The environment overrides that stand in for the secrets file, for one run (pgBackRest reads them too). */
export const SECRET_ENV = [
  'PGBACKREST_REPO2_CIPHER_PASS',
  'PGBACKREST_REPO2_S3_KEY',
  'PGBACKREST_REPO2_S3_KEY_SECRET',
] as const

export function cipherPassMissing(layout: Layout, env = process.env): string | undefined {
  const file = layout.secrets.pgbackrest
  if (!existsSync(file)) {
    // without the file, pgBackRest needs the S3 keys from the environment as well as the pass
    const unset = SECRET_ENV.filter((k) => !env[k])
    if (unset.length === 0) return undefined
    return `${file} does not exist${unset.length < SECRET_ENV.length ? ` and ${unset.join(', ')} ${unset.length === 1 ? 'is' : 'are'} not set` : ''}`
  }
  if (env.PGBACKREST_REPO2_CIPHER_PASS) return undefined
  try {
    if (!readSecrets(layout)['repo2-cipher-pass']) return `${file} has no repo2-cipher-pass line`
  } catch (e) {
    return `${file} cannot be read (${(e as NodeJS.ErrnoException).code})`
  }
  return undefined
}

/** pgBackRest reads the pass for every command, repo1's included: the configuration names repo2 encrypted. */
export function requireCipherPass(layout: Layout): void {
  const why = cipherPassMissing(layout)
  if (why)
    throw inputError(
      'repo2 cipher pass',
      why,
      "pgBackRest needs it for every command, repo1's too: the site's configuration names repo2 encrypted (aes-256-cbc). Nothing was changed",
      `put the pass back from your secret store: ${layout.secrets.pgbackrest} (owner postgres, mode 0600) with the line repo2-cipher-pass=<pass> (and repo2-s3-key, repo2-s3-key-secret), or export PGBACKREST_REPO2_CIPHER_PASS for this run (with PGBACKREST_REPO2_S3_KEY and PGBACKREST_REPO2_S3_KEY_SECRET when the file is gone)`,
    )
}

/** Register every secret with the redactor, so no log line can carry one. */
export function registerSiteSecrets(layout: Layout): void {
  for (const [k, v] of Object.entries(readSecrets(layout)))
    if (/^repo\d+-(cipher-pass|s3-key-secret)$/.test(k)) registerSecret(v)
  const password = dbPassword(layout)
  if (password) registerSecret(password)
}

/** The communication plan's webhooks for this site: webhooks.json in its secrets, or $LABDOJO_WEBHOOKS_FILE (validated). */
export function siteWebhooks(site: { layout: Layout; policy: DrPolicy }): Webhook[] {
  return loadWebhooks(site.policy, process.env.LABDOJO_WEBHOOKS_FILE ?? join(site.layout.secrets.dir, 'webhooks.json'))
}
