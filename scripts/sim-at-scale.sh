#!/usr/bin/env bash
# The random simulation at scale: RUNS seeds (default 100 000) of STEPS steps (default 80),
# from SEED (default 1), split over JOBS processes (default: the number of cores), in a
# release build. Every invariant is checked after every step; any violation fails the run and
# names its seed. Prints each part's summary and the wall time. Recorded: docs/SIMULATOR.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${RUNS:-100000}"
steps="${STEPS:-80}"
seed="${SEED:-1}"
jobs="${JOBS:-$(nproc)}"
cargo build --release --locked --quiet -p infrastream
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
per=$(( (runs + jobs - 1) / jobs ))
pids=()
for ((i = 0; i < jobs; i++)); do
  first=$(( seed + i * per ))
  count=$(( runs - i * per < per ? runs - i * per : per ))
  (( count > 0 )) || break
  ./target/release/infrastream sim --random --seed "$first" --runs "$count" --steps "$steps" \
    >"$out/$i" 2>&1 &
  pids+=("$!")
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then failed=1; fi
  grep -v '^\s*$' "$out/$i" | tail -3
done
echo "sim at scale: $runs runs of $steps steps from seed $seed on $jobs processes in $(( $(date +%s) - start )) s"
exit "$failed"
