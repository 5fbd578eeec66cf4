#!/usr/bin/env bash
# Tasks per second of `dagctl worker` processes sharing a PostgreSQL store: RUNS queued runs of
# a DAG of TASKS no-op tasks (20 × 50 = 1,000 tasks by default) executed by 1, 2 and 3 workers,
# each with its own home as on its own machine; beside them, the same runs executed on SQLite
# by one `dagctl runs resume`. The clock starts when the workers start and stops when the store
# says every run succeeded (polled every 20 ms with psql).
#   cargo build --release && benches/workers.sh [RUNS] [TASKS]
# WORKER_ARGS adds worker flags (`--concurrency 1000`: every try runs where its run is driven;
# the default 16 hands the rest of a wide run's tries to the other workers).
# The PostgreSQL server is the test suite's (scripts/pg-server.sh: loopback, fsync=off).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/dagctl
runs=${1:-20}; tasks=${2:-50}
work=$(mktemp -d); chmod 755 "$work"  # the postgres user enters it
trap 'scripts/pg-server.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(scripts/pg-server.sh start "$work/pg" 2>/dev/null)"
pg=$DAGCTL_TEST_PG_URL
mkdir -p "$work/dags"
{
  echo "dag_id: wide"; echo "max_active_runs: $runs"; echo "max_active_tasks: ${MAX_ACTIVE_TASKS:-$((runs * tasks))}"; echo "tasks:"
  for i in $(seq 1 "$tasks"); do echo "  n$i: {operator: noop}"; done
} > "$work/dags/wide.yaml"
export DAGCTL_DAGS_FOLDER=$work/dags DAGCTL_FERNET_KEY=dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM=
now() { date +%s.%N; }

queue() { # store URL, home
  for r in $(seq 1 "$runs"); do
    DAGCTL_STORE_URL=$1 DAGCTL_HOME=$2 "$bin" trigger wide --run-id "r$r" --no-wait >/dev/null
  done
}

for n in 1 2 3; do
  db=bench_workers_$n
  psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  url=${pg%/*}/$db
  queue "$url" "$work/cli"
  t0=$(now)
  pids=()
  for w in $(seq 1 "$n"); do
    DAGCTL_STORE_URL=$url DAGCTL_HOME=$work/w$n-$w "$bin" worker --poll 100ms ${WORKER_ARGS:-} 2>/dev/null &
    pids+=($!)
  done
  until [ "$(psql -tAq "$url" -c "SELECT count(*) FROM dag_runs WHERE state = 'success'")" = "$runs" ]; do
    sleep 0.02
  done
  t1=$(now)
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  busy=$(psql -tAq "$url" -c "SELECT count(DISTINCT worker_id) FROM task_tries")
  handed=$(psql -tAq "$url" -c "SELECT count(*) FROM task_tries WHERE handed = 1")
  python3 -c "n=$runs*$tasks; s=$t1-$t0; print(f'PostgreSQL, $n worker(s): {n} tasks in {s:.2f} s = {n/s:,.0f} tasks/s ($busy worker(s) ran tries, $handed handed between workers)')"
done

home=$work/sqlite
queue "sqlite://$home/dagctl.db" "$home"
t0=$(now)
DAGCTL_HOME=$home "$bin" runs resume >/dev/null
t1=$(now)
python3 -c "n=$runs*$tasks; s=$t1-$t0; print(f'SQLite, one runs resume: {n} tasks in {s:.2f} s = {n/s:,.0f} tasks/s')"
