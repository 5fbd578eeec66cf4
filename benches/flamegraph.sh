#!/usr/bin/env bash
# Flame graphs of whole `dagctl trigger` processes on a home in use (SQLite): a chain of 50
# no-op tasks and 1,000 independent ones, each run ROUNDS times under `perf record` (CPU
# samples with DWARF call stacks, kernel included), folded and drawn with inferno.
#
#   cargo build --release && benches/flamegraph.sh
#
# Writes benches/flamegraphs/{chain50,indep1000}.svg (and the folded stacks beside them, to
# diff two builds with `inferno-diff-folded`). Needs `perf` (Debian's linux-perf) and inferno
# (`cargo install inferno`, done here when missing). The release profile keeps no frame
# pointers, hence DWARF unwinding: the stacks are deep and the files large, so samples are
# taken at 4 kHz.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=${BIN:-$repo/target/release/dagctl}
rounds=${ROUNDS:-10}
out=$repo/benches/flamegraphs
mkdir -p "$out"
command -v perf >/dev/null || { echo "error: perf not found (apt-get install linux-perf)" >&2; exit 1; }
command -v inferno-flamegraph >/dev/null || cargo install --quiet inferno
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DAGCTL_FERNET_KEY=dGhpcy1pcy10aGUtdGVzdC1rZXktb2YtMzItYnl0ZXM= DAGCTL_LOG=error
mkdir -p "$work/chain50" "$work/indep1000"
{
  echo "dag_id: chain50"; echo "tasks:"; echo "  t0: {operator: noop}"
  for i in $(seq 1 49); do echo "  t$i: {operator: noop, dependencies: [t$((i - 1))]}"; done
} > "$work/chain50/chain50.yaml"
{
  echo "dag_id: indep1000"; echo "tasks:"
  for i in $(seq 0 999); do echo "  t$i: {operator: noop}"; done
} > "$work/indep1000/indep1000.yaml"
for shape in chain50 indep1000; do
  home=$work/home-$shape
  DAGCTL_HOME=$home DAGCTL_DAGS_FOLDER=$work/$shape "$bin" trigger "$shape" >/dev/null
  perf record -q -F 4000 -e cpu-clock -g --call-graph dwarf,16384 -o "$work/$shape.data" -- \
    sh -c "for i in \$(seq $rounds); do DAGCTL_HOME=$home DAGCTL_DAGS_FOLDER=$work/$shape $bin trigger $shape >/dev/null; done" \
    2>/dev/null
  perf script -i "$work/$shape.data" --comm dagctl 2>/dev/null \
    | inferno-collapse-perf > "$out/$shape.folded"
  inferno-flamegraph --title "dagctl trigger $shape (home in use, $rounds runs)" \
    --minwidth 0.2 < "$out/$shape.folded" > "$out/$shape.svg"
  echo "$out/$shape.svg"
done
