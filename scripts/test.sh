#!/usr/bin/env bash
# The whole test suite: every crate's unit, property and integration tests, plus a build of the
# fuzz targets so they never rot. Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests.
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo build --manifest-path fuzz/Cargo.toml --locked --quiet
echo "test suite passed in $(( $(date +%s) - start ))s"
