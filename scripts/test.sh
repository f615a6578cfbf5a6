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

# The random simulation: a bounded number of seeds, run twice; the trace digests must match.
cargo build --locked --quiet -p infrastream
seed=${SIM_SEED:-20261127}
runs=${SIM_RUNS:-200}
first=$(./target/debug/infrastream sim --random --seed "$seed" --runs "$runs" | tee /dev/stderr | grep '^trace digest:')
second=$(./target/debug/infrastream sim --random --seed "$seed" --runs "$runs" | grep '^trace digest:')
if [ "$first" != "$second" ]; then
  echo "determinism check failed: $first != $second" >&2
  exit 1
fi
echo "determinism check: $first (twice)"
echo "test suite passed in $(( $(date +%s) - start ))s"
