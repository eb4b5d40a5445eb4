#!/bin/bash
# The twin's in-place restore job, after PGO's RestoreCommand (internal/pgbackrest/config.go),
# with the pod's /tmp as a directory of the instance: pgBackRest restore, then PostgreSQL with a
# minimal configuration (archiving off, local peer login only, the limits pg_controldata reports)
# until it leaves recovery, stopped, and the data moved to <data>_bootstrap, where Patroni's
# "existing" bootstrap takes it from.
# usage (as postgres, PGBACKREST_CONFIG_PATH set): restore-job.sh PGDATA 'PGBACKREST OPTIONS' TMPDIR BINDIR
set -eu
declare -r pgdata="$1" opts="$2" tmp="$3" bin="$4"
install --directory --mode=0700 "$pgdata" "$tmp"
rm -f "$pgdata/postmaster.pid"
bash -xc "pgbackrest restore $opts"
rm -f "$pgdata/patroni.dynamic.json"
export PGDATA="$pgdata" PGHOST="$tmp"
control=$("$bin/pg_controldata")
read -r max_conn <<< "${control##*max_connections setting:}"
read -r max_lock <<< "${control##*max_locks_per_xact setting:}"
read -r max_ptxn <<< "${control##*max_prepared_xacts setting:}"
read -r max_work <<< "${control##*max_worker_processes setting:}"
read -r max_wals <<< "${control##*max_wal_senders setting:}"
echo > "$tmp/pg_hba.restore.conf" 'local all "postgres" peer'
cat > "$tmp/postgres.restore.conf" <<CONF
archive_command = 'false'
archive_mode = 'on'
hba_file = '$tmp/pg_hba.restore.conf'
listen_addresses = ''
max_connections = '$max_conn'
max_locks_per_transaction = '$max_lock'
max_prepared_transactions = '$max_ptxn'
max_worker_processes = '$max_work'
max_wal_senders = '$max_wals'
unix_socket_directories = '$tmp'
CONF
"$bin/pg_ctl" start --silent --timeout=31536000 --wait --options="--config-file=$tmp/postgres.restore.conf"
recovery=''
until [[ "$recovery" == 'f' ]]; do
  recovery=$("$bin/psql" -X -Atc "SELECT CASE
    WHEN NOT pg_catalog.pg_is_in_recovery() THEN false
    WHEN NOT pg_catalog.pg_is_wal_replay_paused() THEN true
    ELSE pg_catalog.pg_wal_replay_resume()::text = ''
  END recovery" -d postgres && sleep 1) || sleep 1
done
"$bin/pg_ctl" stop --silent --wait --timeout=31536000
mv "$pgdata" "${pgdata}_bootstrap"
