#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the store tests and print its URL.
#
# Usage (as root, non-interactive):
#   export TEST_POSTGRES_URL=$(bash .ci/start-postgres.sh)
#
# Installs Debian's `postgresql` if no server binaries are present, creates a
# cluster in a fresh temporary directory owned by the unprivileged `postgres`
# user, starts it on the first free local port from 5433 upward with trust
# authentication on 127.0.0.1 only, and prints exactly one line on stdout:
# `postgres://postgres@127.0.0.1:PORT/postgres`. Everything else goes to stderr.
# Each run starts a new cluster; stop one with
#   su postgres -c "<bindir>/pg_ctl -D <dir>/data stop"
# (both paths are logged to stderr).
set -euo pipefail
exec 3>&1 1>&2

find_initdb() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true
}

initdb_path=$(find_initdb)
if [[ -z "$initdb_path" ]]; then
    echo "start-postgres: installing Debian postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql
    initdb_path=$(find_initdb)
    if [[ -z "$initdb_path" ]]; then
        echo "start-postgres: postgresql installed but no initdb found" >&2
        exit 1
    fi
fi
pgbin=$(dirname "$initdb_path")

port_in_use() {
    # Bash's /dev/tcp connect succeeds only if something listens there.
    (exec 4<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
port=5433
while port_in_use "$port"; do
    port=$((port + 1))
    if (( port > 5533 )); then
        echo "start-postgres: no free port in 5433..5533" >&2
        exit 1
    fi
done

dir=$(mktemp -d /tmp/slotwise-pg.XXXXXX)
chown postgres:postgres "$dir"
chmod 700 "$dir"
su postgres -s /bin/bash -c \
    "'$pgbin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 --no-locale" >&2 3>&-
su postgres -s /bin/bash -c \
    "'$pgbin/pg_ctl' -D '$dir/data' -l '$dir/log' -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off\" -w start" >&2 3>&-
echo "start-postgres: cluster in $dir (binaries $pgbin), port $port" >&2

echo "postgres://postgres@127.0.0.1:$port/postgres" >&3
