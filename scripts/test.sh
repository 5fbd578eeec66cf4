#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh clone: `scripts/test.sh`.
# Later versions also start PostgreSQL and an S3 server on loopback here, and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
# pyarrow and DuckDB read our Parquet datasets back in the interoperability test: install
# them once into a virtualenv kept under target/ (PyPI is reachable from CI).
venv="target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pyarrow, duckdb" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pyarrow duckdb
fi
export DAGCTL_TEST_PYTHON="$PWD/$venv/bin/python"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Unit, integration and CLI tests, then the rustdoc examples (not part of --all-targets).
cargo test --workspace --all-targets "$@" 2>&1 | tee -a "$log"
cargo test --workspace --doc "$@" 2>&1 | tee -a "$log"
# The embedding examples must run, not only compile.
for example in custom_operator build_dag_in_code validate_dags; do
  cargo run --quiet --example "$example" "$@" >/dev/null
done
# One closing line for the whole suite.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
