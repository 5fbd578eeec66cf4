#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the test suite.
#   eval "$(scripts/pg-server.sh start DIR)"   prints DAGCTL_TEST_PG_URL to export
#   scripts/pg-server.sh stop DIR
# It uses the newest PostgreSQL under /usr/lib/postgresql, installing Debian's package when
# there is none. Trust authentication on loopback only; the data lives in DIR. PG_OPTS adds
# server settings (`-c shared_preload_libraries=pg_stat_statements` for a bench's profile).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?state folder}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
# PostgreSQL refuses to run as root: run its programs as the `postgres` user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

bin=$(bin_dir)
if [ "$cmd" = stop ]; then
  [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  exit 0
fi
if [ -z "$bin" ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
  bin=$(bin_dir)
fi
[ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
rm -rf "$dir/data"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "$bin/initdb" -D "$dir/data" -A trust -U dagctl >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off ${PG_OPTS:-}" start >&2
echo "export DAGCTL_TEST_PG_URL=postgres://dagctl@127.0.0.1:$port/postgres"
