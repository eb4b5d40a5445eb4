/**
 * Logical exports on cloud stacks, run by the export CronJobs inside the cluster: pg_dump
 * through the PG* environment (PGO's user secret), into a scratch directory, then into each
 * requested repo's bucket under exports/<label>/, sealed and read back. The buckets are
 * versioned and locked; their lifecycle expires exports (the writer role cannot delete).
 */
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackupRecord } from '../../../../core/backup-policy.ts'
import { inputError } from '../../../../core/errors.ts'
import type { Inventory, Repo } from '../../../../core/inventory.ts'
import { awsCredentials } from '../../adapters/aws-credentials.ts'
import { run } from '../../adapters/exec.ts'
import { exportRecord, writeExport } from './logical-export.ts'
import { ObjectStore } from '../../adapters/object-store.ts'
import { shipExport } from './offsite.ts'
import { probe } from '../../adapters/postgres.ts'
import { registerSecret } from '../../output/redact.ts'
import { Sealer } from './sealed.ts'

const PG_ENV_FIX =
  "mount PGO's labdojo-pguser-labdojo secret as PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (the export CronJob does)"

/** Check everything before anything is dumped: the database, the seal, the buckets, the credentials. */
async function preflight(inventory: Inventory, repos: number[], env: NodeJS.ProcessEnv) {
  if (!env.PGHOST)
    throw inputError(
      'PGHOST',
      undefined,
      'is not set: on a cloud stack the database to export comes from the PG* environment',
      PG_ENV_FIX,
    )
  const pass = env.LABDOJO_EXPORT_CIPHER_PASS
  if (!pass)
    throw inputError(
      'LABDOJO_EXPORT_CIPHER_PASS',
      undefined,
      'is not set: exports are sealed before they leave the pod',
      'mount key export-cipher-pass of the labdojo-pgbackrest-conf secret as this variable (the export CronJob does)',
    )
  registerSecret(pass)
  if (env.PGPASSWORD) registerSecret(env.PGPASSWORD)
  const targets: Repo[] = repos.map((i) => inventory.pgbackrest.repos.find((r) => r.index === i)!)
  for (const r of targets)
    if (r.type !== 's3' || !r.bucket || !r.region)
      throw inputError(
        '--repo',
        r.index,
        `repo${r.index} is ${r.type}${r.bucket ? '' : ' without a bucket'}: cloud exports go to S3 buckets`,
        `pass --repo with an S3 repo of ${inventory.stack}`,
      )
  const credentials = await awsCredentials(targets[0]!.region!, env)
  const ca = env.LABDOJO_S3_CA_FILE ? readFileSync(env.LABDOJO_S3_CA_FILE, 'utf8') : undefined
  const stores = targets.map((r) => ({
    repo: r.index,
    store: new ObjectStore({
      endpoint: env.LABDOJO_S3_ENDPOINT,
      bucket: r.bucket!,
      region: r.region!,
      ...credentials,
      ca,
    }),
  }))
  return { sealer: new Sealer(pass), stores }
}

export async function cloudLogicalExport(
  inventory: Inventory,
  repos: number[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<BackupRecord[]> {
  const { sealer, stores } = await preflight(inventory, repos, env)
  const database = env.PGDATABASE ?? 'labdojo'
  const source = `${env.PGHOST}:${env.PGPORT ?? 5432}`
  const started = new Date()
  const conn = { host: env.PGHOST!, port: Number(env.PGPORT ?? 5432), database, user: env.PGUSER }
  const { lsn } = await probe(source, conn)
  const e = await writeExport(
    run,
    { args: [], database, source, asSiteUser: false },
    join(env.LABDOJO_EXPORT_DIR ?? tmpdir(), 'labdojo-exports'),
    started,
    lsn ?? null,
  )
  const out: BackupRecord[] = []
  try {
    for (const { repo, store } of stores) {
      const r = await shipExport({ store, sealer }, e.dir, e.label)
      out.push(
        exportRecord(e, repo, r.location, r.stored, e.seconds + r.seconds, [
          `sealed with AES-256-GCM and read back: ${r.files} files match their SHA-256`,
          "expiry: the bucket's lifecycle (exports/), after the policy's retention",
        ]),
      )
    }
  } finally {
    for (const { store } of stores) store.close()
    rmSync(e.dir, { recursive: true, force: true }) // the pod's scratch copy; the buckets hold the export
  }
  return out
}
