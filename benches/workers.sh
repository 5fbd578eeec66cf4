#!/usr/bin/env bash
# Tasks per second of `dagctl worker` processes sharing a PostgreSQL store: RUNS queued runs of
# a DAG of TASKS no-op tasks (20 × 50 = 1,000 tasks by default) executed by 1, 2 and 3 workers,
# each with its own home as on its own machine; beside them, the same runs executed on SQLite
# by one `dagctl runs resume`. The clock starts when the workers start and stops when the store
# says every run succeeded (polled every 20 ms with psql).
#   cargo build --release && benches/workers.sh [RUNS] [TASKS]   (BIN=another dagctl to measure it)
# WORKER_ARGS adds worker flags (`--concurrency 1000`: every try runs where its run is driven;
# the default 16 hands the rest of a wide run's tries to the other workers).
# LIMITS: `default` (the DAG's default max_active_tasks, 16, as users run it), `raised`
# (max_active_tasks = RUNS × TASKS, no task limit), a number (that limit; MAX_ACTIVE_TASKS=N is
# the same), or `both` (the default: default and raised, each reported).
# Beside each figure: the CPU that PostgreSQL (the server and its backends) and the workers spent
# per task instance, read from the kernel's accounting before and after (the figure that carries
# to bigger machines), and how many task instances a second one database core would then serve.
# The PostgreSQL server is the test suite's (scripts/pg-server.sh: loopback, fsync=off).
# PG_STATS=1 loads pg_stat_statements and prints, after each figure, the statements that took
# the most server time (calls and time per task instance; PG_STATS_WIDTH characters of each).
# WORKERS lists the worker counts to measure (default "1 2 3"). CORES (default 16) is the size of
# the database host the CPU figure is projected to.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-$PWD/target/release/dagctl}
runs=${1:-20}; tasks=${2:-50}; cores=${CORES:-16}
work=$(mktemp -d); chmod 755 "$work"  # the postgres user enters it
trap 'scripts/pg-server.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
[ "${PG_STATS:-0}" = 1 ] && export PG_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
eval "$(scripts/pg-server.sh start "$work/pg" 2>/dev/null)"
pg=$DAGCTL_TEST_PG_URL
# The DAG with the limit of a configuration: `default` writes none (the shipped default).
write_dag() {
  mkdir -p "$work/dags"
  {
    echo "dag_id: wide"; echo "max_active_runs: $runs"
    case $1 in
      default) ;;
      raised) echo "max_active_tasks: $((runs * tasks))" ;;
      *) echo "max_active_tasks: $1" ;;
    esac
    echo "tasks:"
    for i in $(seq 1 "$tasks"); do echo "  n$i: {operator: noop}"; done
  } > "$work/dags/wide.yaml"
}
export DAGCTL_DAGS_FOLDER=$work/dags DAGCTL_FERNET_KEY=dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM=
now() { date +%s.%N; }
ticks=$(getconf CLK_TCK)
# CPU seconds of a process and of the children it reaped (utime stime cutime cstime).
cpu_of() { awk -v t="$ticks" '{ s = 0; for (i = 14; i <= 17; i++) s += $i; printf "%.3f", s / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# PostgreSQL's CPU: the postmaster with the backends it reaped, plus the live backends.
pg_cpu() {
  local pm total
  pm=$(head -1 "$work/pg/data/postmaster.pid")
  total=$(cpu_of "$pm")
  for c in $(pgrep -P "$pm"); do total=$(python3 -c "print($total + $(cpu_of "$c"))"); done
  echo "$total"
}

queue() { # store URL, home
  for r in $(seq 1 "$runs"); do
    DAGCTL_STORE_URL=$1 DAGCTL_HOME=$2 "$bin" trigger wide --run-id "r$r" --no-wait >/dev/null
  done
}

LIMITS=${LIMITS:-${MAX_ACTIVE_TASKS:-both}}
for limits in $( [ "$LIMITS" = both ] && echo "default raised" || echo "$LIMITS" ); do
write_dag "$limits"
case $limits in
  default) label="max_active_tasks 16 (default)" ;;
  raised) label="max_active_tasks $((runs * tasks)) (raised)" ;;
  *) label="max_active_tasks $limits" ;;
esac
for n in ${WORKERS:-1 2 3}; do
  db=bench_workers_${limits}_$n
  psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
  url=${pg%/*}/$db
  queue "$url" "$work/cli"
  if [ "${PG_STATS:-0}" = 1 ]; then
    psql -q "$url" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
  fi
  pg0=$(pg_cpu)
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
  pg1=$(pg_cpu)
  wcpu=0
  for p in "${pids[@]}"; do wcpu=$(python3 -c "print($wcpu + $(cpu_of "$p"))"); done
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  busy=$(psql -tAq "$url" -c "SELECT count(DISTINCT worker_id) FROM task_tries")
  handed=$(psql -tAq "$url" -c "SELECT count(*) FROM task_tries WHERE handed = 1")
  python3 -c "
n=$runs*$tasks; s=$t1-$t0; pg=($pg1-$pg0)*1000/n; w=$wcpu*1000/n
print(f'PostgreSQL, $n worker(s), $label: {n} tasks in {s:.2f} s = {n/s:,.0f} tasks/s '
      f'($busy worker(s) ran tries, $handed handed between workers); CPU per task: '
      f'PostgreSQL {pg:.2f} ms, workers {w:.2f} ms; one database core: ~{1000/max(pg, 1e-9):,.0f} tasks/s, '
      f'a database host of $cores cores: ~{$cores*1000/max(pg, 1e-9):,.0f} tasks/s (across DAGs: the claims of one DAG take turns)')"
  if [ "${PG_STATS:-0}" = 1 ]; then
    psql -q "$url" -P pager=off -c "SELECT round(calls::numeric / $((runs * tasks)), 2) AS calls_per_ti,
        round((total_exec_time / $((runs * tasks)))::numeric, 4) AS ms_per_ti, rows,
        left(regexp_replace(query, '\s+', ' ', 'g'), ${PG_STATS_WIDTH:-110}) AS query
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT 15"
  fi
done
done

write_dag default
home=$work/sqlite
queue "sqlite://$home/dagctl.db" "$home"
t0=$(now)
DAGCTL_HOME=$home "$bin" runs resume >/dev/null
t1=$(now)
python3 -c "n=$runs*$tasks; s=$t1-$t0; print(f'SQLite, one runs resume, max_active_tasks 16 (default): {n} tasks in {s:.2f} s = {n/s:,.0f} tasks/s')"
