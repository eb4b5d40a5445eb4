/**
 * The local site's shared configuration files, rendered from the layout and the DR policy
 * (pure): postgresql.conf's shared part, pg_hba.conf, pgbackrest.conf and its secrets include,
 * pgbouncer.ini. Per-node settings by role are in node-settings.ts.
 */
import type { DrPolicy } from '../../../../core/policy.ts'
import { archiveTimeoutSeconds, diffsRetained, fullsRetained, offsiteRetentionDays } from '../../../../core/policy.ts'
import { join } from 'node:path'
import { BUCKET, STANZA, type Layout } from './layout.ts'

/** Appended to every node's postgresql.conf: identical on all nodes. */
export function sharedPostgresConf(layout: Layout, p: DrPolicy): string {
  return `
# ---- labdojo-dr local site (shared by every node) ----
listen_addresses = '127.0.0.1'
unix_socket_directories = '${layout.socketDir}'
wal_level = replica
archive_mode = on
archive_timeout = ${archiveTimeoutSeconds(p)}   # tier-1 RPO ${p.tiers[1].rpo} s / 15
max_wal_senders = 10
max_replication_slots = 10
max_slot_wal_keep_size = 4GB
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
shared_buffers = 128MB
max_wal_size = 2GB
checkpoint_timeout = 5min
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
include_if_exists = '../node.conf'
`
}

/**
 * Loopback only. Every TCP connection proves the password (SCRAM-SHA-256; the password is the
 * site's secret, 0600); the unix socket admits the postgres OS user alone (peer). No trust: a
 * local user must not read the site's secrets through a superuser session.
 */
export const PG_HBA = `# labdojo-dr local site: loopback only; TCP asks for the password (SCRAM), the socket is peer-only
local   all             postgres                                peer
local   replication     postgres                                peer
host    all             all             127.0.0.1/32            scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
`

/**
 * libpq's password file for the site (0600): the postgres role on each of the site's own ports
 * (endpoint, nodes, scratch clusters), so the password is never offered anywhere else and the
 * files of several sites never shadow each other.
 */
export const pgpassFile = (password: string, ports: number[]): string =>
  ports.map((p) => `127.0.0.1:${p}:*:postgres:${password}\n`).join('')

/** PgBouncer's auth_file (0600): it checks clients with SCRAM and logs in to the primary with it. */
export const bouncerUsersFile = (password: string): string => `"postgres" "${password}"\n`

export function pgbackrestCommand(layout: Layout, dataDir: string, verb: string): string {
  return `pgbackrest --config=${layout.pgbackrest.conf} --config-include-path=${layout.secrets.dir} --stanza=${STANZA} --pg1-path=${dataDir} ${verb}`
}

export interface PgHost {
  dataDir: string
  port: number
}

/** Which repositories a pgbackrest.conf names: both (backups, restores), or one WAL lane. */
export type RepoSet = 'both' | 'repo1' | 'repo2'

/**
 * pgbackrest.conf: pg1 is the current primary, pg2 a streaming standby (backup-standby). The
 * two one-repo variants serve WAL archiving, which runs in two independent lanes: PostgreSQL's
 * archive_command pushes to repo1 alone, and the offsite shipper pushes the same files to repo2
 * (pgBackRest's multi-repo archive-push would hold repo1 back while repo2 times out).
 */
export function pgbackrestConf(layout: Layout, p: DrPolicy, hosts: PgHost[], repos: RepoSet = 'both'): string {
  const pg = hosts
    .map(
      (h, i) =>
        `pg${i + 1}-path=${h.dataDir}\npg${i + 1}-port=${h.port}\npg${i + 1}-socket-path=${layout.socketDir}\npg${i + 1}-user=postgres`,
    )
    .join('\n')
  const sections = [globalSection(layout, repos)]
  if (repos !== 'repo2') sections.push(repo1Section(layout, p))
  if (repos !== 'repo1') sections.push(repo2Section(layout, p))
  return `# labdojo-dr local site (${repos === 'both' ? 'both repositories' : `${repos} only: a WAL archiving lane`}).
# Secrets (repo2 cipher pass, S3 keys) are NOT here: they are in
# ${layout.secrets.pgbackrest} (0600, outside the repo), loaded with --config-include-path.
${sections.join('\n')}
[${STANZA}]
${pg}
`
}

function globalSection(layout: Layout, repos: RepoSet): string {
  // the repo2 lane pushes from its queue, not pg_wal: no queue limit (it would read pg_wal/archive_status)
  const queueMax = repos === 'repo2' ? '' : 'archive-push-queue-max=4GB\n'
  // the repo2 lane keeps its own locks, spool and logs: its archive-push must never hold the lock
  // that repo1's asynchronous archive-push waits for (a busy shipper would stall repo1 again)
  const own = (dir: string) => (repos === 'repo2' ? join(dir, 'repo2-lane') : dir)
  return `[global]
log-path=${own(layout.pgbackrest.log)}
lock-path=${own(layout.pgbackrest.lock)}
spool-path=${own(layout.pgbackrest.spool)}
log-level-console=warn
log-level-file=info
compress-type=lz4
compress-level=1
process-max=2
start-fast=y
delta=y
archive-async=y
# pgBackRest retries a dead endpoint 4x io-timeout: keep a 3 a.m. answer under a minute
io-timeout=10
archive-get-queue-max=256MB
${queueMax}`
}

function repo1Section(layout: Layout, p: DrPolicy): string {
  // block incremental: GA in 2.46+ (the cloud stacks turn it on), beta in the local 2.45: only when the policy says beta
  const block =
    p.schedules.localBlockIncremental === 'beta'
      ? '# policy.schedules.localBlockIncremental: beta (pgBackRest 2.45 beta feature)\nbeta=y\nrepo1-bundle=y\nrepo1-block=y\n'
      : ''
  return `# repo1: the primary backup storage ("local SSD"), retention from the DR policy
repo1-type=posix
repo1-path=${layout.pgbackrest.repo1}
repo1-retention-full-type=count
repo1-retention-full=${fullsRetained(p)}
repo1-retention-diff=${diffsRetained(p)}
${block}`
}

function repo2Section(layout: Layout, p: DrPolicy): string {
  return `# repo2: offsite, S3 over TLS, encrypted; the cold site restores from it alone
repo2-type=s3
repo2-path=/pgbackrest
repo2-s3-endpoint=127.0.0.1
repo2-storage-port=${layout.ports.s3}
repo2-s3-bucket=${BUCKET}
repo2-s3-region=us-east-1
repo2-s3-uri-style=path
# TLS verified against the local S3 server's own certificate (self-signed, IP:127.0.0.1)
repo2-storage-ca-file=${layout.s3.cert}
repo2-cipher-type=aes-256-cbc
repo2-retention-full-type=time
repo2-retention-full=${offsiteRetentionDays(p)}
`
}

/**
 * The WAL archiving script (its name holds "pgbackrest": `pgbackrest check` insists on it).
 * `push DATADIR FILE` is archive_command: repo1 synchronously, then the file is queued for repo2
 * and the shipper started in the background; PostgreSQL waits for repo1 alone. `ship DATADIR`
 * pushes the queue to repo2 oldest first and stops at the first failure (the next push retries).
 * The queue lives on local disk; nothing is dropped while repo2 is away.
 */
export function walScript(layout: Layout): string {
  const b = layout.pgbackrest
  const br = (conf: string, include: string) =>
    `pgbackrest --config=${conf}${include} --stanza=${STANZA} --pg1-path="$2"`
  return `#!/bin/bash
# labdojo-dr local site: WAL archiving in two independent lanes. Written by labdojo-dr.
set -uo pipefail
outbox=${b.outbox}
case "\${1:-}" in
push | push-held)
  # push-held: a file outside pg_wal (a restored primary's held WAL), pushed synchronously
  sync=; [ "$1" = push-held ] && sync="--archive-async=n --reset-archive-push-queue-max"
  ${br(b.repo1Conf, '')} $sync archive-push "$3" || exit $?
  f=$(basename "$3")
  cp "$3" "$outbox/.$f.partial" && mv "$outbox/.$f.partial" "$outbox/$f" || exit 1
  setsid "$0" ship "$2" </dev/null >/dev/null 2>&1 &
  ;;
ship)
  # one shipper at a time; after letting go of the lock, look again for a file that came meanwhile
  while ls "$outbox" | grep -q .; do
    (
      flock -n 9 || exit 75
      for f in $(ls "$outbox" | sort); do
        ${br(b.repo2Conf, ` --config-include-path=${layout.secrets.dir}`)} --archive-async=n archive-push "$outbox/$f" || exit 1
        rm -f "$outbox/$f"
      done
    ) 9>"${b.lock}/repo2-ship.lock"
    case $? in 0) ;; 75) exit 0 ;; *) exit 1 ;; esac
  done
  ;;
*)
  echo "usage: $0 push|push-held DATADIR WALFILE | ship DATADIR" >&2
  exit 2
  ;;
esac
`
}

/** archive_command for a node: the repo1 lane now, repo2 through the queue. */
export function archiveCommand(layout: Layout, dataDir: string): string {
  return `${layout.pgbackrest.walScript} push ${dataDir} %p`
}

export function pgbackrestSecretsConf(cipherPass: string, s3Key: string, s3Secret: string): string {
  return `[global]\nrepo2-cipher-pass=${cipherPass}\nrepo2-s3-key=${s3Key}\nrepo2-s3-key-secret=${s3Secret}\n`
}

export function pgbouncerIni(layout: Layout, primaryPort: number | undefined): string {
  // A fenced endpoint (no primary) points at a port nothing listens on: clients get errors, never a stale primary.
  const target = (db: string) => `host=127.0.0.1 port=${primaryPort ?? 1} dbname=${db}`
  return `;; labdojo-dr traffic endpoint (the local stand-in for DNS). Rewritten on failover.
;; target: ${primaryPort === undefined ? 'FENCED (no primary)' : `primary on port ${primaryPort}`}
[databases]
labdojo = ${target('labdojo')}
postgres = ${target('postgres')}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${layout.ports.endpoint}
unix_socket_dir = ${layout.socketDir}
auth_type = scram-sha-256
auth_file = ${layout.pgbouncer.users}
admin_users = postgres
pool_mode = session
max_client_conn = 200
default_pool_size = 40
server_connect_timeout = 2
server_login_retry = 1
query_wait_timeout = 5
logfile = ${layout.pgbouncer.log}
pidfile = ${layout.pgbouncer.pid}
`
}

/**
 * postgresql.auto.conf without the recovery settings a pgBackRest restore appended to it. They
 * would outrank node.conf (auto.conf is read last) and travel with pg_rewind and pg_basebackup:
 * a node that had been restored once would later stream from, or fetch WAL for, the wrong node.
 */
export function withoutRestoreSettings(autoConf: string): string {
  const out: string[] = []
  let inBlock = false
  for (const line of autoConf.split('\n')) {
    if (/^# Recovery settings generated by pgBackRest restore/.test(line)) inBlock = true
    else if (inBlock && line.trim() === '') inBlock = false
    if (!inBlock) out.push(line)
  }
  return out.join('\n')
}
