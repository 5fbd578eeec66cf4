#!/usr/bin/env bash
# Time to expand and run a mapped task of N instances (default 10,000): a `command` task is
# expanded over a Variable holding a JSON list of N items (`expand: {bash_command: "{{
# var.json.items | tojson }}"}`, every instance a real `echo 1` through bash, 16 at a
# time) after an upstream no-op, and a reduce
# step pulls the N results. Reports the time from the list's task ending to the last
# instance ending (expansion and instances), the whole run, and the peak memory of the
# process, from `runs show --json` and /usr/bin/time; on SQLite, and on PostgreSQL when
# DAGCTL_TEST_PG_URL is set.
#   cargo build --release && [MAP_NAMES=1] benches/mapping.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/dagctl
n=${1:-10000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dags"
# MAP_NAMES=1: the instances are named too (`map_index_template`).
names=""
if [ "${MAP_NAMES:-}" = 1 ]; then
  names='      map_index_template: "{{ task.bash_command }} #{{ ti.map_index }}"'
fi
cat > "$work/dags/fan.yaml" <<YAML
fan:
  max_active_tasks: 16
  tasks:
    - task_id: make
      operator: noop
    - task_id: each
      operator: command
      max_map_length: $n
      dependencies: [make]
      expand:
        bash_command: "{{ var.json.items | tojson }}"
$names
    - task_id: reduce
      operator: command
      bash_command: "echo {{ ti.xcom_pull(task_ids='each') | length }}"
      dependencies: [each]
YAML
run() {
  local label=$1; shift
  local home="$work/home-$label"
  python3 -c "import json; print(json.dumps(['echo 1'] * $n))" > "$work/items.json"
  "$bin" --dags-folder "$work/dags" --home "$home" "$@" variables set items "$(cat "$work/items.json")" >/dev/null
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" --dags-folder "$work/dags" --home "$home" "$@" trigger fan >/dev/null
  "$bin" --dags-folder "$work/dags" --home "$home" "$@" runs list --json --dag fan > "$work/runs.json"
  local id
  id=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['run_id'])" "$work/runs.json")
  "$bin" --dags-folder "$work/dags" --home "$home" "$@" runs show "$id" --json > "$work/run.json"
  python3 - "$work/run.json" "$label" "$n" "$(cat "$work/rss")" <<'PY'
import json, sys
from datetime import datetime
run = json.load(open(sys.argv[1]))
label, n, rss_kb = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t = lambda s: datetime.fromisoformat(s)
tis = {x["task_id"]: x for x in run["tasks"]}
kids = [x for x in run["tasks"] if x["task_id"].startswith("each[")]
assert len(kids) == n and all(k["state"] == "success" for k in kids), "not every instance succeeded"
assert run["state"] == "success"
first = min(t(k["start_date"]) for k in kids)
last = max(t(k["end_date"]) for k in kids)
mapped = (last - t(tis["make"]["end_date"])).total_seconds()
whole = (t(run["end_date"]) - t(run["start_date"])).total_seconds()
print(f"{label:10} {n} instances: expanded and run in {mapped:.1f} s ({n/mapped:.0f} instances/s), "
      f"whole run {whole:.1f} s, peak RSS {rss_kb/1024:.0f} MiB")
PY
}
run sqlite
if [ -n "${DAGCTL_TEST_PG_URL:-}" ]; then
  db="mapbench$$"
  psql "$DAGCTL_TEST_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
  run postgresql --store-url "${DAGCTL_TEST_PG_URL%/*}/$db"
  psql "$DAGCTL_TEST_PG_URL" -qc "DROP DATABASE $db" >/dev/null
fi
