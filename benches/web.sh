#!/usr/bin/env bash
# Page times of `dagctl webserver` on a SQLite store holding 1,000 and 100,000 runs (each of
# two no-op tasks, made by `dagctl backfill` of an hourly DAG): the DAG list, a DAG's grid
# (first page and page 100), a run, a try's log, `/metrics` and `/api/v1/runs`, each the
# median of 7 requests with curl; then `db clean` of the older half, its time and the file
# size before and after, then `db clean --vacuum` giving the space back; and the scheduler's
# loop time on that store (its heartbeats, read from /metrics, while it runs for 12 s).
#   cargo build --release && benches/web.sh [RUNS...]     (default: 1000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/dagctl
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/dags"
cat > "$work/dags/grid.yaml" <<'YAML'
grid_dag:
  schedule: "@hourly"
  start_date: 2010-01-01
  catchup: false
  max_active_runs: 1000  # a backfill lists every unfinished run at each turn: fewer, larger turns
  tasks:
    - task_id: extract
      operator: noop
    - task_id: load
      operator: noop
      dependencies: [extract]
YAML
export DAGCTL_DAGS_FOLDER=$work/dags
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() { # URL → median seconds of 7 requests (after one warm-up)
  curl -s -o /dev/null "$1"
  for _ in 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | median
}
for n in "${@:-1000 100000}"; do
  for runs in $n; do  # "$@" or the default list, word-split
    home=$work/h$runs
    end=$(python3 -c "import datetime as d; print((d.datetime(2010,1,1)+d.timedelta(hours=$runs-1)).isoformat())")
    t0=$(date +%s.%N)
    DAGCTL_HOME=$home "$bin" backfill grid_dag --start 2010-01-01 --end "$end" >/dev/null
    t1=$(date +%s.%N)
    python3 -c "print(f'$runs runs made by backfill in {$t1-$t0:.1f} s')"
    DAGCTL_HOME=$home "$bin" webserver --bind 127.0.0.1:0 > "$work/web$runs.out" 2>&1 &
    pids+=($!)
    until grep -q http "$work/web$runs.out" 2>/dev/null; do sleep 0.1; done
    base=$(grep -o 'http://[0-9.:]*' "$work/web$runs.out")
    run=$(curl -s "$base/api/v1/runs?limit=1" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['run_id'])")
    runq=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=''))" "$run")
    for page in "/" "/dags/grid_dag" "/dags/grid_dag?page=100" "/dags/grid_dag/runs/$runq" \
                "/dags/grid_dag/runs/$runq/tasks/load/tries/1" "/metrics" "/api/v1/runs?limit=50"; do
      printf '%7s runs  %-44s %6.1f ms\n' "$runs" "${page:0:44}" "$(echo "$(timed "$base$page") * 1000" | bc -l)"
    done
    # The scheduler's loop on this store, as its heartbeats report it to /metrics.
    DAGCTL_HOME=$home "$bin" scheduler > /dev/null 2>&1 &
    sched=$!
    sleep 12
    curl -s "$base/metrics" | python3 -c "
import sys
v = {}
for line in sys.stdin:
    if line.startswith('dagctl_scheduler_loop_seconds') and 'role=\"scheduler\"' in line:
        name, value = line.rsplit(' ', 1)
        v[name.split('{')[0]] = float(value)
n = v.get('dagctl_scheduler_loop_seconds_count', 0)
print(f'$runs runs: scheduler loop mean {1000 * v.get(\"dagctl_scheduler_loop_seconds_sum\", 0) / max(n, 1):.1f} ms over {n:.0f} loops, longest {1000 * v.get(\"dagctl_scheduler_loop_seconds_max\", 0):.1f} ms')
"
    kill -TERM "$sched"; wait "$sched" 2>/dev/null || true
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
    size0=$(stat -c %s "$home/dagctl.db")
    # Backfilled runs end while the backfill runs: the runs that ended in its first half go.
    mid=$(python3 -c "import datetime as d; print(d.datetime.fromtimestamp(($t0+$t1)/2, d.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))")
    c0=$(date +%s.%N)
    DAGCTL_HOME=$home "$bin" db clean --before "$mid" > "$work/clean.out"
    c1=$(date +%s.%N)
    size1=$(stat -c %s "$home/dagctl.db")
    python3 -c "print(f'$runs runs: db clean {$c1-$c0:.2f} s ({open(\"$work/clean.out\").read().strip().splitlines()[0]}); file {$size0/1e6:.1f} MB before, {$size1/1e6:.1f} MB after')"
    # Then the space back: nothing more to remove, the file rewritten.
    v0=$(date +%s.%N)
    DAGCTL_HOME=$home "$bin" db clean --before "$mid" --vacuum > "$work/vacuum.out"
    v1=$(date +%s.%N)
    python3 -c "print(f'$runs runs: db clean --vacuum {$v1-$v0:.2f} s: {open(\"$work/vacuum.out\").read().strip().splitlines()[-1]}')"
  done
done
