#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on its checked-in seeds (fuzz/seeds/<target>),
# with cargo-fuzz's libFuzzer build (coverage-guided, no sanitizer: the code fuzzed is safe
# Rust). A crash fails the run and leaves its input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 5) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh http_bodies config_toml
#
# cargo-fuzz passes nightly-only flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. New inputs found are kept in a scratch corpus, not in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-5}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^cd-fuzz$')
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$corpus/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  echo "fuzz: $target for ${seconds}s"
  if ! cargo fuzz run -s none "$target" "$corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$corpus/$target.log" 2>&1; then
    tail -40 "$corpus/$target.log" >&2
    echo "fuzz: $target failed; the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$corpus/$target.log" | tail -1 || true
done
