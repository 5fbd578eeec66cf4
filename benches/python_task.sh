#!/usr/bin/env bash
# The start-up cost of a Python task, whole process: `dagctl trigger` of a DAG of one
# `PythonOperator` whose callable does nothing, beside one `command` task running
# `python3 -c pass` and one `noop` task (the floor), each the median of ROUNDS runs on a home
# in use; and Airflow's `dags test` of the same one-PythonOperator DAG (the Airflow of the
# test virtualenv, `scripts/airflow-venv.sh`), median of AIRFLOW_ROUNDS.
#
#   cargo build --release && benches/python_task.sh
#
# Settings: ROUNDS=9, AIRFLOW_ROUNDS=3 (0: skip Airflow), BIN=target/release/dagctl,
# AIRFLOW_VENV=target/airflow-venv, PYTHON=python3 (the interpreter of both the Python task,
# through DAGCTL_PYTHON, and the `command` task).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=${BIN:-$repo/target/release/dagctl}
[ -x "$bin" ] || { echo "error: $bin not found: run cargo build --release first" >&2; exit 1; }
rounds=${ROUNDS:-9}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DAGCTL_LOG=error
mkdir -p "$work/dags"
printf 'def noop():\n    pass\n' > "$work/dags/callables.py"
printf 'dag_id: python_task\ntasks:\n  t: {operator: PythonOperator, python_callable: callables.noop}\n' \
  > "$work/dags/python_task.yaml"
python=${PYTHON:-python3}
export DAGCTL_PYTHON=$python
printf 'dag_id: command_python\ntasks:\n  t: {operator: command, bash_command: %s -c pass}\n' "$python" \
  > "$work/dags/command_python.yaml"
printf 'dag_id: noop_task\ntasks:\n  t: {operator: noop}\n' > "$work/dags/noop_task.yaml"
export DAGCTL_HOME=$work/home DAGCTL_DAGS_FOLDER=$work/dags
median() { # label dag
  python3 - "$rounds" "$bin" "$2" "$1" <<'PY'
import statistics, subprocess, sys, time
rounds, binary, dag, label = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
walls = []
for i in range(rounds + 1):
    t0 = time.perf_counter()
    p = subprocess.run([binary, "trigger", dag], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        sys.exit(f"{dag} failed: {p.stderr.decode()[-400:]}")
    if i > 0:
        walls.append(wall)
walls.sort()
print(f"| {label} | {statistics.median(walls):.1f} ms (min {walls[0]:.1f}, max {walls[-1]:.1f}) |")
PY
}
echo "| whole process, median of $rounds | wall |"
echo "|---|---|"
median '`dagctl trigger`, one `noop` task (the floor)' noop_task
median "\`dagctl trigger\`, one \`command\` task running \`$python -c pass\`" command_python
median '`dagctl trigger`, one `PythonOperator` task (a no-op callable)' python_task
venv=${AIRFLOW_VENV:-$repo/target/airflow-venv}
if [ "${AIRFLOW_ROUNDS:-3}" -gt 0 ] && [ -x "$venv/bin/airflow" ]; then
  ah=$work/airflow; mkdir -p "$ah/dags"
  cat > "$ah/dags/python_task.py" <<'PY'
import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator
def noop():
    pass
with DAG(dag_id="python_task", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    PythonOperator(task_id="t", python_callable=noop)
PY
  export AIRFLOW_HOME=$ah AIRFLOW__CORE__DAGS_FOLDER=$ah/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
  "$venv/bin/airflow" db migrate >/dev/null 2>&1
  python3 - "${AIRFLOW_ROUNDS:-3}" "$venv/bin/airflow" <<'PY'
import statistics, subprocess, sys, time
rounds, airflow = int(sys.argv[1]), sys.argv[2]
walls = []
for i in range(rounds):
    t0 = time.perf_counter()
    p = subprocess.run([airflow, "dags", "test", "python_task"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"airflow dags test failed: {p.stderr.decode()[-400:]}")
    walls.append((time.perf_counter() - t0) * 1000)
print(f"| Airflow `dags test`, one PythonOperator (a no-op callable), same machine | {statistics.median(walls):.0f} ms (median of {rounds}) |")
PY
fi
