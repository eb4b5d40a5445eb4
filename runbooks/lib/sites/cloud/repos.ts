/**
 * A cloud stack's repos (its vaults), read from this machine with pgBackRest: the settings come
 * from the stack's inventory, the credentials from the environment only (never argv, never the
 * generated file):
 *   S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN], or web identity
 *       (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, as IRSA sets them);
 *   GCS: Workload Identity inside a GKE pod (gcs-key-type auto), or a service-account key file
 *       named by LABDOJO_GCS_KEY_FILE (a path; the file is the secret, never read here);
 *   the repo cipher pass: LABDOJO_REPO_CIPHER_PASS (the stack's repoCipherPass secret output);
 *   a private CA for a non-AWS endpoint: LABDOJO_S3_CA_FILE (S3), LABDOJO_GCS_CA_FILE (GCS).
 * pgBackRest reads its secrets from PGBACKREST_REPOn_* variables set for its process alone.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Inventory, Repo } from '../../../../core/inventory.ts'
import { inputError } from '../../../../core/errors.ts'
import type { Runner } from '../../adapters/exec.ts'
import { giveToSiteUser } from '../../adapters/process.ts'
import { PgBackRest } from '../../adapters/pgbackrest.ts'
import { scratchDir } from '../../adapters/scratch.ts'
import { ObjectStore } from '../../adapters/object-store.ts'
import type { AwsCredentials } from '../../adapters/aws-credentials.ts'
import { registerSecret } from '../../output/redact.ts'
import type { RepoAccess } from '../ports.ts'

/** The pgBackRest settings of one cloud repo (no secret among them). */
export function repoSettings(r: Repo, env = process.env): string[] {
  const k = `repo${r.index}`
  const cipher = r.encrypted ? [`${k}-cipher-type=aes-256-cbc`] : []
  if (r.type === 'gcs')
    return [
      `${k}-type=gcs`,
      `${k}-path=${r.path}`,
      `${k}-gcs-bucket=${r.bucket}`,
      ...(r.endpoint ? [`${k}-gcs-endpoint=${r.endpoint.replace(/^https?:\/\//, '')}`] : []),
      ...(env.LABDOJO_GCS_CA_FILE ? [`${k}-storage-ca-file=${env.LABDOJO_GCS_CA_FILE}`] : []),
      ...(env.LABDOJO_GCS_KEY_FILE
        ? [`${k}-gcs-key-type=service`, `${k}-gcs-key=${env.LABDOJO_GCS_KEY_FILE}`]
        : [`${k}-gcs-key-type=auto`]),
      ...cipher,
    ]
  if (r.type !== 's3')
    throw inputError(`inventory repo ${r.index}`, r.type, 'is not a cloud repo (s3 or gcs)', 'fix the inventory')
  const { host, port, custom } = s3Endpoint(r)
  return [
    `${k}-type=s3`,
    `${k}-path=${r.path}`,
    `${k}-s3-bucket=${r.bucket}`,
    `${k}-s3-region=${r.region ?? 'us-east-1'}`,
    `${k}-s3-endpoint=${host}`,
    ...(port ? [`${k}-storage-port=${port}`] : []),
    ...(custom ? [`${k}-s3-uri-style=path`] : []),
    ...(env.LABDOJO_S3_CA_FILE ? [`${k}-storage-ca-file=${env.LABDOJO_S3_CA_FILE}`] : []),
    ...(env.AWS_WEB_IDENTITY_TOKEN_FILE ? [`${k}-s3-key-type=web-id`] : []),
    ...cipher,
  ]
}

/** Where an S3 repo is: AWS's own endpoint for its region, or the one the inventory names (custom: path-style). */
export function s3Endpoint(r: Repo): { host: string; port?: string; custom: boolean } {
  const [host, port] = (r.endpoint ?? `s3.${r.region}.amazonaws.com`).replace(/^https?:\/\//, '').split(':')
  return { host: host!, port, custom: !host!.endsWith('.amazonaws.com') }
}

/** An S3 repo's bucket as an object store (our own objects beside pgBackRest's), at the endpoint pgBackRest uses. */
export function repoObjectStore(r: Repo, credentials: AwsCredentials, env = process.env): ObjectStore {
  const { host, port, custom } = s3Endpoint(r)
  return new ObjectStore({
    endpoint: custom ? `https://${host}${port ? `:${port}` : ''}` : undefined,
    bucket: r.bucket!,
    region: r.region ?? 'us-east-1',
    ...credentials,
    ca: env.LABDOJO_S3_CA_FILE ? readFileSync(env.LABDOJO_S3_CA_FILE, 'utf8') : undefined,
    timeoutMs: 15_000,
  })
}

/** The secrets for pgBackRest's process, from the environment; every one missing is named. */
export function repoSecrets(repos: Repo[], env = process.env): Record<string, string> {
  const out: Record<string, string> = {}
  const missing: string[] = []
  for (const r of repos) {
    const k = `PGBACKREST_REPO${r.index}`
    if (r.type === 's3' && !env.AWS_WEB_IDENTITY_TOKEN_FILE) {
      if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
        out[`${k}_S3_KEY`] = env.AWS_ACCESS_KEY_ID
        out[`${k}_S3_KEY_SECRET`] = env.AWS_SECRET_ACCESS_KEY
        if (env.AWS_SESSION_TOKEN) out[`${k}_S3_TOKEN`] = env.AWS_SESSION_TOKEN
      } else missing.push('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_WEB_IDENTITY_TOKEN_FILE)')
    }
    if (r.encrypted) {
      if (env.LABDOJO_REPO_CIPHER_PASS) out[`${k}_CIPHER_PASS`] = env.LABDOJO_REPO_CIPHER_PASS
      else
        missing.push('LABDOJO_REPO_CIPHER_PASS (the stack output repoCipherPass: pulumi stack output --show-secrets)')
    }
  }
  if (missing.length)
    throw inputError(
      'environment',
      [...new Set(missing)].join('; '),
      'is not set: the cloud repos cannot be read',
      'export them for this run (never pass them as arguments)',
    )
  for (const v of Object.values(out)) registerSecret(v)
  return out
}

/** The repos of a stack this machine can read: S3 and GCS. */
export function cloudRepos(inv: Inventory): Repo[] {
  const repos = inv.pgbackrest.repos.filter((r) => r.type === 's3' || r.type === 'gcs')
  if (!repos.length)
    throw inputError('inventory', inv.stack, 'has no cloud repo (s3 or gcs) to read', 'fix the inventory')
  return repos
}

export interface CloudRepoConfig {
  dir: string
  conf: string
  /** a pg1-path pgBackRest requires; nothing is written there but fetched WAL */
  pg: string
  br: PgBackRest
}

/**
 * pgBackRest's configuration for a stack's cloud repos in a fresh 0700 directory of the site
 * user (the caller removes it with removeScratch; an exit hook does, should the process end first). The secrets stay in pgBackRest's environment, unless
 * `secretsOnDisk` (a restored cluster's restore_command runs without that environment): then
 * they go to conf.d/secrets.conf, 0600, in the same directory, which the caller removes.
 */
export function cloudRepoConfig(
  run: Runner,
  inv: Inventory,
  repos: Repo[],
  o: { secretsOnDisk?: boolean; env?: NodeJS.ProcessEnv } = {},
): CloudRepoConfig {
  const settings = repos.flatMap((r) => repoSettings(r, o.env))
  const secrets = repoSecrets(repos, o.env)
  const dir = scratchDir('/var/tmp/labdojo-cloud-repos-')
  const pg = join(dir, 'pg')
  mkdirSync(pg, { mode: 0o700 })
  const include = join(dir, 'conf.d')
  mkdirSync(include, { mode: 0o700 })
  const conf = join(dir, 'pgbackrest.conf')
  const stanza = inv.pgbackrest.stanza
  writeFileSync(
    conf,
    `[global]\n${settings.join('\n')}\nlog-level-console=warn\nlog-path=${dir}\nlock-path=${dir}\nspool-path=${dir}\n\n[${stanza}]\npg1-path=${pg}\n`,
    { mode: 0o600 },
  )
  const paths = [dir, pg, include, conf]
  if (o.secretsOnDisk) {
    const file = join(include, 'secrets.conf')
    // PGBACKREST_REPO2_S3_KEY -> repo2-s3-key
    const lines = Object.entries(secrets).map(
      ([k, v]) =>
        `${k
          .replace(/^PGBACKREST_/, '')
          .toLowerCase()
          .replace(/_/g, '-')}=${v}`,
    )
    writeFileSync(file, `[global]\n${lines.join('\n')}\n`, { mode: 0o600 })
    paths.push(file)
  }
  for (const p of paths) giveToSiteUser(p)
  chmodSync(dir, 0o700)
  const br = new PgBackRest(run, {
    config: conf,
    stanza,
    ...(o.secretsOnDisk ? { includePath: include } : { env: secrets }),
  })
  return { dir, conf, pg, br }
}

/** The repos as a procedure takes them (sites/ports.ts): a restored cluster never archives into a vault. */
export const cloudRepoAccess = (c: CloudRepoConfig): RepoAccess => ({ br: c.br, neverArchive: true })
