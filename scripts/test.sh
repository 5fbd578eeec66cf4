#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh clone: `scripts/test.sh`.
# Later versions also start PostgreSQL and an S3 server on loopback here, and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets "$@"
# Doc tests (rustdoc examples) are not part of --all-targets.
cargo test --workspace --doc "$@"
