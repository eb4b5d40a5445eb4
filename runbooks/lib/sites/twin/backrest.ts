/**
 * pgBackRest in the twin, as PGO runs it: each instance gets PGO's pgbackrest_instance.conf
 * (core/pgo.ts, from internal/pgbackrest/config.go) and the program's configuration Secret
 * projected beside it (conf.d, as PGO projects spec.backups.pgbackrest.configuration), in a
 * directory pgBackRest finds through PGBACKREST_CONFIG_PATH, which Patroni passes to PostgreSQL,
 * so archive_command and restore_command are PGO's own strings. The repos live in the regions'
 * S3 servers (s3-region.ts), at the paths the spec gives.
 *
 * What the twin changes in PGO's configuration, each named in twinStorage() and
 * twinCompatibility(): the S3 endpoint (the region's server, not AWS), the key (IRSA's web
 * identity cannot be had here: the twin's own key, in a 0600 file), the CA, a lock path per
 * instance (each pod has its own /tmp), and what pgBackRest 2.45 (Debian's) needs to run the
 * options written for the 2.54 of PGO 5.7.4's image.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Runner } from '../../adapters/exec.ts'
import { giveToSiteUser, mkdirForSiteUser } from '../../adapters/process.ts'
import {
  iniText,
  pgoBackrestInstanceConf,
  PGO_STANZA,
  type Ini,
  type PgoRepo,
  type PgoSpec,
} from '../../../../core/pgo.ts'
import type { TwinInstance, TwinSiteLayout } from './layout.ts'
import type { Twin } from './rendered.ts'
import { inNamespace } from './processes.ts'

/** A cluster as far as its pgBackRest files go. */
interface ClusterSpec {
  layout: TwinSiteLayout
  spec: PgoSpec
}

export const S3_PORT = 9000

/** The region's S3 server, where a bucket of that region lives. */
export const s3Endpoint = (s: TwinSiteLayout) => `https://${s.hostIp}:${S3_PORT}`

/** The twin site whose region holds a bucket (the first site in that region). */
export function siteOfRegion(t: Twin, region: string): TwinSiteLayout | undefined {
  return t.layout.sites.find((s) => s.region === region)
}

export const backrestDir = (i: TwinInstance) => join(i.dir, 'pgbackrest')
/** The environment an instance's processes run pgBackRest with (Patroni passes it on to PostgreSQL). */
export const backrestEnv = (i: TwinInstance) => ({ PGBACKREST_CONFIG_PATH: backrestDir(i) })

/**
 * The twin's storage for PGO's repos. S3: its region's server, path-style, its CA, its key (in
 * place of IRSA's web identity). GCS: the twin's CA (Workload Identity is served as GKE serves it).
 */
export function twinStorage(
  global: Record<string, string>,
  repos: PgoRepo[],
  where: (region: string) => string | undefined,
  ca: string,
): void {
  for (const r of repos) {
    // GCS at Google's own name (the hosts files), its certificate from the twin's CA
    if (r.gcs) global[`${r.name}-storage-ca-file`] = ca
    if (!r.s3) continue
    const endpoint = where(r.s3.region)
    if (!endpoint) throw new Error(`the twin has no region ${r.s3.region} for ${r.name} (bucket ${r.s3.bucket})`)
    const u = new URL(endpoint)
    Object.assign(global, {
      [`${r.name}-s3-endpoint`]: u.hostname,
      [`${r.name}-storage-port`]: u.port,
      [`${r.name}-s3-uri-style`]: 'path',
      [`${r.name}-storage-ca-file`]: ca,
      [`${r.name}-s3-key-type`]: 'shared',
    })
  }
}

/**
 * pgBackRest 2.45 against options written for 2.54: `backup-standby=prefer` is y|n in 2.45 (PGO
 * names pg1 only, so prefer backs up from the primary: n); block incremental (`repoN-block`) is a
 * beta feature in 2.45 (`beta=y`).
 */
export function twinCompatibility(global: Record<string, string>): void {
  if (global['backup-standby'] === 'prefer') global['backup-standby'] = 'n'
  if (Object.entries(global).some(([k, v]) => /^repo\d+-block$/.test(k) && v === 'y')) global.beta = 'y'
}

/** A pod path under PGO's /pgdata volume (a spool, a log) becomes the same path under the instance's directory. */
export function twinPodPaths(global: Record<string, string>, instanceDir: string): void {
  for (const [k, v] of Object.entries(global))
    if (v.startsWith('/pgdata/')) global[k] = join(instanceDir, v.slice('/pgdata/'.length))
}

/** The program's configuration Secrets (spec.backups.pgbackrest.configuration), key by key, as PGO projects them. */
function configurationFiles(t: Twin, c: ClusterSpec): Record<string, string> {
  const names = (c.spec.backups?.pgbackrest?.configuration ?? []).map((x) => x.secret?.name).filter(Boolean)
  const out: Record<string, string> = {}
  for (const o of t.rendered.objects)
    if (
      o.type === 'kubernetes:core/v1:Secret' &&
      o.name.startsWith(`${c.layout.site}-`) &&
      names.includes(o.object.metadata.name)
    )
      Object.assign(out, o.object.stringData ?? {})
  return out
}

/** Write an instance's pgBackRest directory (0700, postgres): PGO's file, the projected Secret, the twin's key. */
export function writeInstanceBackrest(
  t: Twin,
  c: ClusterSpec,
  i: TwinInstance,
  key: { accessKeyId: string; secretAccessKey: string },
): void {
  const dir = backrestDir(i)
  mkdirForSiteUser(dir, 0o700)
  mkdirForSiteUser(join(dir, 'conf.d'), 0o700)
  for (const sub of ['spool', 'log', 'lock']) mkdirForSiteUser(join(dir, sub), 0o700)
  const ini: Ini = pgoBackrestInstanceConf(c.spec, {
    pgData: i.data,
    socketDir: i.socketDir,
    spool: join(dir, 'spool'),
    log: join(dir, 'log'),
  })
  const repos = c.spec.backups?.pgbackrest?.repos ?? []
  twinStorage(
    ini.global!,
    repos,
    (region) => {
      const s = siteOfRegion(t, region)
      return s && s3Endpoint(s)
    },
    join(t.layout.pki, 'ca.crt'),
  )
  twinCompatibility(ini.global!)
  // each pod has its own /tmp and /pgdata volume: here the instance's directory is its /pgdata, and it gets its own lock path
  twinPodPaths(ini.global!, i.dir)
  ini.global!['lock-path'] = join(dir, 'lock')
  const files: Record<string, string> = {
    'pgbackrest.conf': iniText(ini),
    ...Object.fromEntries(Object.entries(configurationFiles(t, c)).map(([k, v]) => [join('conf.d', k), v])),
    // the twin's key for every S3 repo (IRSA's stand-in), never in argv or the main file
    [join('conf.d', '~twin-credentials.conf')]: iniText({
      global: Object.fromEntries(
        repos
          .filter((r) => r.s3)
          .flatMap((r) => [
            [`${r.name}-s3-key`, key.accessKeyId],
            [`${r.name}-s3-key-secret`, key.secretAccessKey],
          ]),
      ),
    }),
  }
  for (const [name, text] of Object.entries(files)) {
    const f = join(dir, name)
    writeFileSync(f, text, { mode: 0o600 })
    giveToSiteUser(f)
  }
}

/** pgBackRest as postgres inside the instance's region, with its configuration (PGO execs it in the pod). */
export function backrest(run: Runner, s: TwinSiteLayout, i: TwinInstance, args: string[], timeoutMs = 3_600_000) {
  const inside = inNamespace(s.ns, 'postgres', ['pgbackrest', `--stanza=${PGO_STANZA}`, ...args])
  return run('ip', inside.argv, { env: { ...backrestEnv(i), ...inside.env }, timeoutMs, nothrow: true })
}
