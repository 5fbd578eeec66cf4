#!/usr/bin/env bash
# From a task's end to its successor's start when the two run on different workers: RUNS runs
# (10 by default) of a chain of 21 no-op tasks whose pools alternate `a` and `b`, executed by
# two `dagctl worker` processes on PostgreSQL, one serving pool `a`, the other pool `b`, with
# their default settings (`--poll 1s`). Every successor runs on the other worker: the driver
# hands it off, or learns of its predecessor's outcome from the store. Printed: the median, 90th
# percentile and worst of (successor's start − predecessor's end) over the 20 × RUNS hand-offs,
# from the tries' own stamps: a try's start is when its worker took it, its end that start plus
# the duration its worker measured (the row's end date is when the driver applied it).
#   cargo build --release && benches/handoff.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/dagctl
runs=${1:-10}
work=$(mktemp -d); chmod 755 "$work"  # the postgres user enters it
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null || true; scripts/pg-server.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(scripts/pg-server.sh start "$work/pg" 2>/dev/null)"
url=${DAGCTL_TEST_PG_URL%/*}/bench_handoff
psql -q "$DAGCTL_TEST_PG_URL" -c "DROP DATABASE IF EXISTS bench_handoff" -c "CREATE DATABASE bench_handoff" >/dev/null 2>&1
mkdir -p "$work/dags"
{
  echo "dag_id: relay"; echo "max_active_runs: $runs"; echo "tasks:"
  for i in $(seq 0 20); do
    pool=$([ $((i % 2)) = 0 ] && echo a || echo b)
    echo "  t$i:"; echo "    operator: noop"; echo "    pool: $pool"
    [ "$i" -gt 0 ] && echo "    dependencies: [t$((i - 1))]"
  done
} > "$work/dags/relay.yaml"
printf 'a: 16\nb: 16\n' > "$work/dags/pools.yaml"
export DAGCTL_DAGS_FOLDER=$work/dags DAGCTL_FERNET_KEY=dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM=
export DAGCTL_STORE_URL=$url
for r in $(seq 1 "$runs"); do
  DAGCTL_HOME=$work/cli "$bin" trigger relay --run-id "r$r" --no-wait >/dev/null
done
for pool in a b; do
  DAGCTL_HOME=$work/w$pool "$bin" worker --pools "$pool" 2>"$work/w$pool.log" &
  pids+=($!)
done
t0=$(date +%s.%N)
until [ "$(psql -tAq "$url" -c "SELECT count(*) FROM dag_runs WHERE state IN ('success', 'failed')")" = "$runs" ]; do
  sleep 0.05
  if python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 > 300 else 1)"; then
    echo "the runs did not finish within 300 s" >&2; exit 1
  fi
done
failed=$(psql -tAq "$url" -c "SELECT count(*) FROM dag_runs WHERE state <> 'success'")
[ "$failed" = 0 ] || { echo "$failed run(s) did not succeed" >&2; exit 1; }
psql -tAq -F ' ' "$url" -c "
  SELECT (n.start_date - (p.start_date + p.duration_us)) / 1000.0
  FROM task_tries p JOIN task_tries n
    ON n.dag_id = p.dag_id AND n.run_id = p.run_id
   AND n.task_id = 't' || (CAST(substr(p.task_id, 2) AS INTEGER) + 1)
  WHERE p.state = 'success' AND n.state = 'success'" | python3 -c "
import statistics, sys
d = sorted(float(x) for x in sys.stdin.read().split())
if not d:
    sys.exit('no hand-offs measured')
p90 = d[min(len(d) - 1, int(0.9 * len(d)))]
print(f'successor on the other worker, {len(d)} hand-offs: median {statistics.median(d):.1f} ms, '
      f'p90 {p90:.1f} ms, worst {d[-1]:.1f} ms (PostgreSQL, 2 workers, default settings)')"
