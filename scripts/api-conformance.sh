#!/usr/bin/env bash
# The API judged against its own OpenAPI document by schemathesis (PyPI): the service runs on
# embedded defaults in a scratch directory, a few builds give it history, and schemathesis
# tries every operation with the credentials the document declares, then again with none,
# with every check. Any failure fails the suite.
#
# Needs: schemathesis under $INFRASTREAM_JUDGES/venv (scripts/test.sh installs it), curl, jq,
# and a debug build of `infrastream`. ST_MAX_EXAMPLES bounds the examples per operation.
set -euo pipefail
cd "$(dirname "$0")/.."

st="${INFRASTREAM_JUDGES:?set by scripts/test.sh}/venv/bin/schemathesis"
bin=./target/debug/infrastream
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --dir "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/service.log" &
pid=$!
for _ in $(seq 300); do
  grep -q '^listening on ' "$work/out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/out")
if [ -z "$url" ]; then
  echo "the service did not start:" >&2
  cat "$work/service.log" >&2
  exit 1
fi

# History: builds of two applications, so deployments exist for the operations that take one.
# CI pushes each image before it notifies.
for app in shop-api shop-web; do
  "$bin" images add --dir "$work/data" --registry containers --image "$app" --tag v1.0.0 >/dev/null
  "$bin" notify --server "$url" --build-definition "$app" --container "$app" --version v1.0.0 >/dev/null
done
deployment=$(curl -fsS -H 'x-infrastream-actor: jane' "$url/v1/deployments?limit=1" | jq -r '.[0].id')

export ST_WEBHOOK_SECRET_FILE="$work/data/webhook-secret"
export ST_DEPLOYMENT="$deployment"
export ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"
export PYTHONPATH="$PWD/scripts/api${PYTHONPATH:+:$PYTHONPATH}"
seed="${ST_SEED:-20261203}"

config="$work/schemathesis.toml"
cp scripts/api/schemathesis.toml "$config"
run() {
  "$st" --config-file "$config" run "$url/openapi.json" --checks all --seed "$seed" --max-examples "$ST_MAX_EXAMPLES" --no-color
}
echo "schemathesis: every operation, with credentials"
run
echo "schemathesis: every operation, without credentials"
sed '/^# --- credentials/,$d' scripts/api/schemathesis.toml >"$config"
run
