#!/usr/bin/env bash
# Whole-process figures of the `dagctl` binary, as a user meets them: every command is a fresh
# process, timed from spawn to exit, median of ROUNDS runs after one warm-up, each on its own
# home (SQLite) — a home in use (its store made by an earlier run of the same command), and for
# one figure a new home, where the first command creates the store. Beside them: the `dagctl --version` floor (process start-up alone) and, in the same
# run, the peers of ../shared/peers (Airflow `dags test` of a chain of 50 EmptyOperators,
# Prefect's 1,000 independent tasks), with the ratios the per-task cost issue names.
#
#   cargo build --release && benches/process.sh
#
# Settings (environment):
#   ROUNDS=7            runs per figure (median reported)
#   BACKFILL_RUNS=10000 hourly runs of a two-task DAG in the backfill figure (0: skip)
#   BACKFILL_ROUNDS=1   how many backfills (each on a fresh home)
#   PEERS=1             measure the peers too (0: skip; they take ~3 minutes)
#   PEER_ROUNDS=3       runs of each peer (median)
#   BASELINE=path       another dagctl binary (say, last week's) measured in turns with this one
#   BIN=path            the binary measured (default target/release/dagctl)
#
# The DAGs are written as users write them, with the shipped defaults (no limit raised except
# the backfill's `max_active_runs: 1000`, which the README's backfill figure has always used).
# The table printed at the end is the README's "Whole process" table.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=${BIN:-$repo/target/release/dagctl}
[ -x "$bin" ] || { echo "error: $bin not found: run cargo build --release first" >&2; exit 1; }
rounds=${ROUNDS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the DAG files --------------------------------------------------------------------------
mkdir -p "$work/one" "$work/chain50" "$work/indep1000" "$work/hourly"
printf 'dag_id: one\ntasks:\n  t: {operator: noop}\n' > "$work/one/one.yaml"
{
  echo "dag_id: chain50"; echo "tasks:"
  echo "  t0: {operator: noop}"
  for i in $(seq 1 49); do echo "  t$i: {operator: noop, dependencies: [t$((i - 1))]}"; done
} > "$work/chain50/chain50.yaml"
{
  echo "dag_id: indep1000"; echo "tasks:"
  for i in $(seq 0 999); do echo "  t$i: {operator: noop}"; done
} > "$work/indep1000/indep1000.yaml"
cat > "$work/hourly/hourly.yaml" <<'EOF'
dag_id: hourly
schedule: "@hourly"
start_date: 2020-01-01
catchup: false
max_active_runs: 1000
tasks:
  extract: {operator: noop}
  load: {operator: noop, dependencies: [extract]}
EOF

export DAGCTL_FERNET_KEY=dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM=
export DAGCTL_LOG=error

# time_cmd LABEL BINARY DAGS_FOLDER CMD... : median wall ms over $rounds fresh homes (the home is
# fresh for every run: a trigger on a used home would find the last run's rows).
python_timer=$(cat <<'PY'
import os, statistics, subprocess, sys, tempfile, time
rounds, mode, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmd = sys.argv[4:]
walls = []
for i in range(rounds + 1):
    home = tempfile.mkdtemp(dir=os.environ["WORK"])
    env = dict(os.environ, DAGCTL_HOME=home, DAGCTL_DAGS_FOLDER=folder)
    if mode == "used":  # a home in use: its store made by an earlier run of the same command
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if mode == "store":  # a home with a store (made by a one-task trigger)
        subprocess.run([cmd[0], "trigger", "one"], stdout=subprocess.DEVNULL,
                       env=dict(env, DAGCTL_DAGS_FOLDER=os.environ["WORK"] + "/one"))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-400:]}")
    if i > 0:  # the first run warms the page cache
        walls.append(wall * 1000)
walls.sort()
print(f"{statistics.median(walls):.1f} {walls[0]:.1f} {walls[-1]:.1f}")
PY
)
export WORK=$work
measure() { # folder new|used binary args...
  local folder=$1 mode=$2 b=$3; shift 3
  python3 -c "$python_timer" "$rounds" "$mode" "$folder" "$b" "$@"
}

declare -A fig
bins=("$bin"); [ -n "${BASELINE:-}" ] && bins+=("$BASELINE")
# In turns: each figure for every binary before the next figure, so the machine's moods fall
# on both alike.
for shape in version validate first one chain50 indep1000; do
  for b in "${bins[@]}"; do
    case $shape in
      version) r=$(measure "$work/one" new "$b" --version) ;;
      validate) r=$(measure "$repo/dags" store "$b" validate) ;;
      first) r=$(measure "$work/one" new "$b" trigger one) ;;
      *) r=$(measure "$work/$shape" used "$b" trigger "$shape") ;;
    esac
    fig[$shape,$b]=$r
    echo "# $shape $b: median/min/max ms $r" >&2
  done
done

# --- the backfill: task instances per second, peak memory ------------------------------------
backfill_runs=${BACKFILL_RUNS:-10000}
declare -A bf
if [ "$backfill_runs" -gt 0 ]; then
  end=$(python3 -c "import datetime as d; print((d.datetime(2020,1,1)+d.timedelta(hours=$backfill_runs-1)).strftime('%Y-%m-%dT%H:%M:%S'))")
  for b in "${bins[@]}"; do
    best=""
    for _ in $(seq 1 "${BACKFILL_ROUNDS:-1}"); do
      home=$(mktemp -d -p "$work")
      out=$( { /usr/bin/time -f "%e %U %S %M" env DAGCTL_HOME="$home" DAGCTL_DAGS_FOLDER="$work/hourly" \
        "$b" backfill hourly --start 2020-01-01T00:00:00 --end "$end" >/dev/null; } 2>&1 | tail -1)
      read -r wall user sys rss <<<"$out"
      ok=$(python3 -c "import sqlite3,sys; c=sqlite3.connect('$home/dagctl.db'); print(c.execute(\"select count(*) from task_instances where state='success'\").fetchone()[0])")
      [ "$ok" = $((backfill_runs * 2)) ] || { echo "error: backfill left $ok of $((backfill_runs * 2)) task instances successful" >&2; exit 1; }
      line=$(python3 -c "n=$backfill_runs*2; print(f'{n/$wall:,.0f} task instances/s ({$wall:.1f} s wall, {$user:.1f} s user + {$sys:.1f} s sys, peak RSS {$rss/1024:.0f} MiB)')")
      echo "# backfill $backfill_runs runs, $b: $line" >&2
      best=${best:-$line}
      rm -rf "$home"
    done
    bf[$b]=$best
  done
fi

# --- peers, in the same run ------------------------------------------------------------------
peers=$repo/../shared/peers
airflow_chain="" prefect_indep=""
if [ "${PEERS:-1}" = 1 ] && [ -d "$peers" ]; then
  if [ ! -x "$peers/.venv/bin/airflow" ] || [ ! -x "$peers/.venv-prefect/bin/python" ]; then
    echo "# installing the peers (../shared/peers/install.sh)" >&2
    "$peers/install.sh" >&2
  fi
  pj=$work/peers; mkdir -p "$pj"
  for i in $(seq 1 "${PEER_ROUNDS:-3}"); do
    (cd "$peers" && AIRFLOW_HOME="$peers/airflow_home" TMPDIR="$peers/tmp" python3 bench_airflow.py \
      --shapes chain50 --ops empty --parse-dags 0 --tag "process_$i" --jsonl "$pj/airflow.jsonl" >&2) \
      || echo "# airflow round $i failed" >&2
    (cd "$peers" && PREFECT_HOME="$peers/prefect_home" TMPDIR="$peers/tmp" python3 bench_prefect.py \
      --shapes indep1000 --tag "process_$i" --jsonl "$pj/prefect.jsonl" >&2) \
      || echo "# prefect round $i failed" >&2
  done
  med() { python3 -c "
import json, statistics, sys
w = [json.loads(l)['wall_s'] for l in open(sys.argv[1]) if json.loads(l).get('ok', True) and json.loads(l).get('wall_s')]
print(f'{statistics.median(w)*1000:.0f}' if w else '')" "$1" 2>/dev/null || true; }
  airflow_chain=$(med "$pj/airflow.jsonl")
  prefect_indep=$(med "$pj/prefect.jsonl")
fi

# --- the table -------------------------------------------------------------------------------
median() { echo "${1%% *}"; }
ratio() { # peer_ms ours_ms
  [ -n "$1" ] && python3 -c "print(f' — {$1/$2:,.0f}×')" || true
}
cell() { # shape binary
  local r=${fig[$1,$2]}; local m; m=$(median "$r")
  echo "$m ms"
}
head="| whole process (median of $rounds) | this binary"
sep="|---|---"
[ -n "${BASELINE:-}" ] && { head+=" | baseline"; sep+="|---"; }
head+=" | peer, same run |"; sep+="|---|"
echo "$head"; echo "$sep"
row() { # label shape peer_label peer_ms
  local line="| $1 | $(cell "$2" "$bin")"
  [ -n "${BASELINE:-}" ] && line+=" | $(cell "$2" "$BASELINE")"
  if [ -n "${4:-}" ]; then
    line+=" | $3 $4 ms$(ratio "$4" "$(median "${fig[$2,$bin]}")") |"
  else
    line+=" | ${3:-—} |"
  fi
  echo "$line"
}
row '`dagctl --version` (the floor)' version
row '`dagctl validate`, the 4 shipped DAGs' validate
row '`dagctl trigger`, one no-op task, first command on a new home (store created)' first
row '`dagctl trigger`, one no-op task' one
row '`dagctl trigger`, chain of 50 no-op tasks' chain50 'Airflow `dags test`' "$airflow_chain"
row '`dagctl trigger`, 1,000 independent no-op tasks' indep1000 'Prefect flow' "$prefect_indep"
if [ "$backfill_runs" -gt 0 ]; then
  line="| \`dagctl backfill\`, $backfill_runs hourly runs of a two-task DAG | ${bf[$bin]}"
  [ -n "${BASELINE:-}" ] && line+=" | ${bf[$BASELINE]}"
  echo "$line | Airflow's scheduler ~500–1,000/s |"
fi
