/**
 * The pgBackRest adapter. It types `info --output=json` once (system-id as a string: it
 * exceeds 2^53) and hands the core derived facts. Secrets come from the config include
 * path or the environment, never argv.
 */
import type { Runner, RunOptions } from './exec.ts'
import { CommandError } from '../../../core/errors.ts'

/** pgBackRest's exit code for LockAcquireError */
const LOCK_ACQUIRE_EXIT = 50

export interface BackRestTarget {
  config: string
  includePath?: string
  stanza: string
  /** env for every call (e.g. a cipher pass override) */
  env?: Record<string, string>
}

export interface BackupInfo {
  label: string
  type: 'full' | 'diff' | 'incr'
  prior: string | null
  reference: string[] | null
  repoKey: number
  start: number
  stop: number
  lsnStart: string
  lsnStop: string
  walStart: string
  walStop: string
  size: number
  delta: number
  repoSize?: number
  repoDelta?: number
  error: boolean
  /** the pgBackRest version that wrote it (backup.info's backrest.version) */
  writtenBy?: string
}

export interface RepoInfo {
  key: number
  status: number
  message: string
}

export interface ArchiveRange {
  repoKey: number
  id: string
  min: string | null
  max: string | null
}

export interface StanzaInfo {
  name: string
  status: number
  message: string
  systemId?: string
  repos: RepoInfo[]
  archives: ArchiveRange[]
  backups: BackupInfo[]
}

/** `pgbackrest info --output=json` as pgBackRest 2.45 writes it (the fields we read). */
interface RawStatus {
  code?: number
  message?: string
}
interface RawStanza {
  name: string
  status?: RawStatus
  db?: { 'system-id'?: string }[]
  repo?: { key: number; status?: RawStatus }[]
  archive?: { id: string; min?: string; max?: string; database: { 'repo-key': number } }[]
  backup?: {
    label: string
    type: BackupInfo['type']
    prior?: string
    reference?: string[]
    error?: boolean
    database: { 'repo-key': number }
    timestamp: { start: number; stop: number }
    lsn: { start: string; stop: string }
    archive: { start: string; stop: string }
    info: { size: number; delta: number; repository?: { size?: number; delta?: number } }
    backrest?: { format?: number; version?: string }
  }[]
}

/** Parse `pgbackrest info --output=json` (keeps system-id exact). */
export function parseInfo(json: string): StanzaInfo[] {
  const exact = json.replace(/"system-id"\s*:\s*(\d+)/g, '"system-id":"$1"')
  const raw = JSON.parse(exact) as RawStanza[]
  return raw.map((s) => ({
    name: s.name,
    status: s.status?.code ?? -1,
    message: s.status?.message ?? '',
    systemId: s.db?.[0]?.['system-id'],
    repos: (s.repo ?? []).map((r) => ({
      key: r.key,
      status: r.status?.code ?? -1,
      message: r.status?.message ?? '',
    })),
    archives: (s.archive ?? []).map((a) => ({
      repoKey: a.database?.['repo-key'],
      id: a.id,
      min: a.min ?? null,
      max: a.max ?? null,
    })),
    backups: (s.backup ?? []).map((b) => ({
      label: b.label,
      type: b.type,
      prior: b.prior ?? null,
      reference: b.reference ?? null,
      repoKey: b.database?.['repo-key'],
      start: b.timestamp?.start,
      stop: b.timestamp?.stop,
      lsnStart: b.lsn?.start,
      lsnStop: b.lsn?.stop,
      walStart: b.archive?.start,
      walStop: b.archive?.stop,
      size: b.info?.size,
      delta: b.info?.delta,
      repoSize: b.info?.repository?.size,
      repoDelta: b.info?.repository?.delta,
      error: b.error === true,
      writtenBy: b.backrest?.version,
    })),
  }))
}

export class PgBackRest {
  constructor(
    readonly run: Runner,
    readonly target: BackRestTarget,
  ) {}

  /** This machine's pgBackRest version (`pgbackrest version`: "pgBackRest 2.45"), asked once. */
  async version(): Promise<string> {
    this.ownVersion ??= this.run('pgbackrest', ['version'], { timeoutMs: 30_000 }).then((r) => {
      const v = /pgBackRest (\d+(?:\.\d+)+)/.exec(r.stdout)?.[1]
      if (!v) throw new Error(`pgbackrest version said ${JSON.stringify(r.stdout.trim())}, not a version`)
      return v
    })
    return this.ownVersion
  }

  private ownVersion?: Promise<string>

  private base(): string[] {
    const a = [`--config=${this.target.config}`, `--stanza=${this.target.stanza}`]
    if (this.target.includePath) a.push(`--config-include-path=${this.target.includePath}`)
    return a
  }

  /** The command line a server runs (restore_command): this repo configuration, for the cluster in `dataDir`. */
  commandLine(dataDir: string, verb: string): string {
    return ['pgbackrest', ...this.base(), `--pg1-path=${dataDir}`, verb].join(' ')
  }

  /** `pgbackrest [options] command [positionals]` */
  exec(command: string, args: string[] = [], opts: RunOptions = {}, positionals: string[] = []) {
    return this.run('pgbackrest', [...this.base(), ...args, command, ...positionals], {
      asSiteUser: true,
      timeoutMs: 4 * 3600_000,
      ...opts,
      env: { ...this.target.env, ...opts.env },
    })
  }

  /**
   * stanza-create takes the stanza's archive lock, which a new primary's asynchronous
   * archive-push may hold for a moment (seen once in CI, on a site's first `up`: exit 50, "unable
   * to acquire lock"): a lock conflict is retried for up to 30 s, any other failure is not.
   */
  async stanzaCreate() {
    for (let waited = 0; ; waited += 250) {
      try {
        return await this.exec('stanza-create', [], { timeoutMs: 120_000 })
      } catch (e) {
        if (!(e instanceof CommandError && e.code === LOCK_ACQUIRE_EXIT) || waited >= 30_000) throw e
        await new Promise((r) => setTimeout(r, 250))
      }
    }
  }

  check(repo?: number) {
    return this.exec('check', repo ? [`--repo=${repo}`] : [], { timeoutMs: 120_000 })
  }

  async info(repo?: number): Promise<StanzaInfo> {
    const r = await this.exec('info', ['--output=json', ...(repo ? [`--repo=${repo}`] : [])], { timeoutMs: 120_000 })
    const all = parseInfo(r.stdout)
    const s = all.find((x) => x.name === this.target.stanza) ?? all[0]
    if (!s) throw new Error(`pgbackrest info returned no stanza ${this.target.stanza}`)
    return s
  }

  backup(type: 'full' | 'diff' | 'incr', repo: number, extra: string[] = [], opts: RunOptions = {}) {
    return this.exec('backup', [`--type=${type}`, `--repo=${repo}`, ...extra], opts)
  }

  expire(repo: number) {
    return this.exec('expire', [`--repo=${repo}`])
  }

  restore(args: string[], opts: RunOptions = {}) {
    return this.exec('restore', args, opts)
  }

  /** Fetch one WAL segment from a repo into a file the site user can write. */
  archiveGet(segment: string, dest: string, repo: number, pgPath: string) {
    return this.exec(
      'archive-get',
      [`--repo=${repo}`, `--pg1-path=${pgPath}`, '--archive-async=n'],
      { nothrow: true, timeoutMs: 120_000 },
      [segment, dest],
    )
  }

  /**
   * One archived WAL segment read without a cluster to check it against (archive-get wants the
   * stanza's pg_control, which a machine reading a cloud vault has not): repo-ls finds its file,
   * repo-get decrypts it, the compressor's own tool unpacks it. False when the repo lacks it.
   */
  async segmentGet(segment: string, dest: string, repo: number, archiveId: string): Promise<boolean> {
    const dir = `archive/${this.target.stanza}/${archiveId}/${segment.slice(0, 16)}`
    const ls = await this.exec('repo-ls', [`--repo=${repo}`, '--output=text'], { nothrow: true, timeoutMs: 120_000 }, [
      dir,
    ])
    const name = ls.stdout
      .split('\n')
      .map((l) => l.trim())
      .find((l) => new RegExp(`^${segment}-[0-9a-f]{40}(\\.(lz4|gz|zst|bz2))?$`).test(l))
    if (!name) return false
    const unpack =
      { lz4: 'lz4 -d -c', gz: 'gzip -d -c', zst: 'zstd -d -c', bz2: 'bzip2 -d -c' }[name.split('.')[1] ?? ''] ?? 'cat'
    const r = await this.run(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `pgbackrest "\${@:3}" repo-get "$1" | ${unpack} > "$2"`,
        'segment-get',
        `${dir}/${name}`,
        dest,
        ...this.base(),
        `--repo=${repo}`,
      ],
      { asSiteUser: true, nothrow: true, timeoutMs: 120_000, env: this.target.env },
    )
    if (r.code !== 0) throw new Error(`could not read ${segment} from repo${repo}: ${r.stderr.trim().split('\n')[0]}`)
    return true
  }

  /** The WAL segment names (24 hex digits) a repo's archive holds for one archive id (e.g. 15-1); partial segments left out. */
  async archiveSegments(repo: number, archiveId: string): Promise<string[]> {
    const path = `archive/${this.target.stanza}/${archiveId}`
    const r = await this.exec('repo-ls', [`--repo=${repo}`, '--recurse', '--output=text'], { timeoutMs: 300_000 }, [
      path,
    ])
    return r.stdout
      .split('\n')
      .map((line) => /(?:^|\/)([0-9A-F]{24})-[0-9a-f]{40}(?:\.(?:lz4|gz|zst|bz2))?$/.exec(line.trim())?.[1])
      .filter((name): name is string => name !== undefined)
  }

  /** `verify` exits 0 even on corruption (field notes): parse its detail log instead. */
  async verify(repo: number): Promise<{ ok: boolean; problems: string[] }> {
    const r = await this.exec('verify', [`--repo=${repo}`, '--log-level-console=detail'], { nothrow: true })
    const text = `${r.stdout}\n${r.stderr}`
    const problems = text
      .split('\n')
      .filter((l) => /checksum invalid|status: error|missing|invalid/i.test(l) && !/status: ok/.test(l))
    return { ok: r.code === 0 && problems.length === 0, problems }
  }
}
