#!/usr/bin/env bash
# One-time set-up for a fresh machine (Debian 12, Node >= 20): the Debian packages the local
# site runs on, and the npm dependencies. Safe to re-run: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_OPTIONS # .npmrc's --import=tsx must not apply before tsx is installed

PACKAGES=(postgresql-15 pgbackrest pgbouncer openssl chromium prometheus prometheus-alertmanager restic git zstd lz4 eatmydata strace buildah debootstrap patroni etcd-server etcd-client iproute2 nftables)
# kubectl: the cloud runbooks' client (the twin's API stand-in answers it); Debian's package unless one is installed
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages: ${missing[*]}" >&2
    echo "fix: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
fi
