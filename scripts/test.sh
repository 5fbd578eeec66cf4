#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh clone: `scripts/test.sh`.
# It starts what the tests need on loopback (an S3 server, a PostgreSQL server) and stops
# them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
# pyarrow and DuckDB read our Parquet datasets back in the interoperability test, and scipy
# checks the drift statistics: install them once into a virtualenv kept under target/ (PyPI is
# reachable from CI).
venv="target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pyarrow, duckdb, scipy, prometheus_client" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow duckdb scipy prometheus_client
fi
export DAGCTL_TEST_PYTHON="$PWD/$venv/bin/python"
# Airflow itself is the oracle of the template tests: tests/python/airflow_render.py renders
# tests/corpus/templates.yaml with real Apache Airflow and the Rust test compares dagctl's
# rendering with it. Its own venv (Airflow pins much of its stack), made once under target/.
airflow_env=$(scripts/airflow-venv.sh target/airflow-venv)
eval "$airflow_env"
# Headless Chromium renders the HTML reports (tests/python/render_check.py): Debian's package.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
export DAGCTL_CHROMIUM="${DAGCTL_CHROMIUM:-$(command -v chromium)}"
# A real S3 API (SeaweedFS) and a real PostgreSQL on loopback, stopped when the suite ends.
log=$(mktemp)
trap 'rm -f "$log"; scripts/s3-server.sh stop target/s3 || true; scripts/pg-server.sh stop target/pg || true' EXIT
eval "$(scripts/s3-server.sh start target/s3 "$DAGCTL_TEST_PYTHON")"
eval "$(scripts/pg-server.sh start target/pg)"
# Unit, integration and CLI tests, then the rustdoc examples (not part of --all-targets).
cargo test --workspace --all-targets "$@" 2>&1 | tee -a "$log"
cargo test --workspace --doc "$@" 2>&1 | tee -a "$log"
# The embedding examples must run, not only compile.
for example in custom_operator build_dag_in_code validate_dags train_and_score; do
  cargo run --quiet --example "$example" "$@" >/dev/null
done
# One closing line for the whole suite.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
