#!/usr/bin/env bash
# How many of dag-factory's example DAG files load and run unchanged in dagctl: every example
# YAML of a dag-factory checkout whose operators are all ones dagctl maps (BashOperator,
# EmptyOperator/DummyOperator, ExternalTaskSensor, HttpOperator/SimpleHttpOperator,
# PythonOperator and the `@task` decorator), each in a DAG folder of its own with the examples'
# `defaults.yml`, dataset config and Python files (as dag-factory loads them); then every DAG
# that loads is triggered once (HTTP tasks against a local server, sensors with the DAG they
# wait for run first where the file defines it, Python callables with `python3`).
#   cargo build --release && benches/dag_factory_examples.sh /path/to/dag-factory
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DAGCTL_BIN:-$PWD/target/release/dagctl}
src=${1:?usage: $0 DAG_FACTORY_CHECKOUT}
dags=$src/dev/dags
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
# A local HTTP server answering 200 to everything (the HTTP examples post to it).
python3 - "$work/port" <<'PY' &
import http.server, sys, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get("content-length") or 0); self.rfile.read(n)
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"ok")
    do_GET = do_POST = do_PUT = answer
    def log_message(self, *a): pass
s = socketserver.TCPServer(("127.0.0.1", 0), H); open(sys.argv[1], "w").write(str(s.server_address[1])); s.serve_forever()
PY
server=$!
while [ ! -s "$work/port" ]; do sleep 0.1; done
port=$(cat "$work/port")
supported='^(airflow\.[a-z._]*\.)?(BashOperator|EmptyOperator|DummyOperator|ExternalTaskSensor|HttpOperator|SimpleHttpOperator|PythonOperator)$|^airflow\.(decorators|sdk|sdk\.definitions\.decorators)\.task$'
total=0; loaded=0; ran=0
for f in $(cd "$dags" && find . -name '*.yml' -o -name '*.yaml' | sort); do
  case $(basename "$f") in defaults.yml|defaults.yaml|example_config_datasets.yml|invalid.yaml) continue;; esac
  ops=$(grep -hoE '^\s*(operator|decorator):\s*\S+' "$dags/$f" | awk '{print $2}' | tr -d '"' | sort -u || true)
  [ -n "$ops" ] || continue
  if echo "$ops" | grep -vqE "$supported"; then continue; fi
  total=$((total + 1))
  folder=$work/$total
  mkdir -p "$folder/$(dirname "$f")" "$folder/datasets"
  cp "$dags/defaults.yml" "$folder/"
  cp "$dags/datasets/example_config_datasets.yml" "$folder/datasets/"
  cp "$dags/$f" "$folder/$f"
  (cd "$dags" && find . -name '*.py' -exec cp --parents {} "$folder/" \;)
  if out=$("$bin" validate "$folder" 2>&1); then
    loaded=$((loaded + 1))
    home=$work/home$total
    DAGCTL_HOME=$home "$bin" connections add example_host --url "http://127.0.0.1:$port" >/dev/null
    ok=1
    for dag in $(DAGCTL_HOME=$home "$bin" dags list --json --dags-folder "$folder" | python3 -c 'import json,sys; print(" ".join(d["dag_id"] for d in json.load(sys.stdin)))'); do
      if ! DAGCTL_HOME=$home "$bin" trigger "$dag" --dags-folder "$folder" >"$work/run.log" 2>&1; then
        ok=0; echo "  runs: no  $f ($dag): $(grep -m1 -iE 'error|failed' "$work/run.log" || true)"
      fi
    done
    if [ $ok = 1 ]; then ran=$((ran + 1)); echo "  runs: yes $f"; fi
  else
    echo "  loads: no $f: $(echo "$out" | grep -m1 'error:' | sed "s|$folder/||")"
  fi
done
echo "dag-factory examples with supported operators: $total; load unchanged: $loaded; load and run: $ran"
