#!/usr/bin/env bash
# How long `ocpp-bulk import` takes for a fleet of N chargers (default 20,000) on moto behind the
# strict stand-in: a fresh import (new fleet states put 100 to a conditional TransactWriteItems) against
# the baseline, measured in the same run, of importing the same fleet again (every state exists: each
# takes the per-charger update that keeps what chargers reported, as every charger did before).
# Usage: scripts/bench-import.sh [CHARGERS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
count=${1:-20000}
. scripts/moto.sh
cargo build --locked -p ocpp-bulk
bin="${CARGO_TARGET_DIR:-$root/target}/debug/ocpp-bulk"
out="$root/target/bench-import"
mkdir -p "$out"
prefix="ocpp-bulk-import-$(date +%s)"
"$bin" fleet generate --chargers "$count" --teams 3 --passwords > "$out/fleet.json" 2> /dev/null
"$bin" init --prefix "$prefix" > /dev/null
"$venv/bin/python" -c 'import urllib.request, sys; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/strict-api/reset", method="POST"))' "$AWS_ENDPOINT_URL"
seconds() { local started=$SECONDS; "$bin" import --fleet "$out/fleet.json" --prefix "$prefix" > /dev/null; echo $(( SECONDS - started )); }
fresh=$(seconds)
requests=$("$venv/bin/python" -c 'import json, urllib.request, sys; print(json.load(urllib.request.urlopen(sys.argv[1] + "/strict-api/stats"))["requests_dynamodb"])' "$AWS_ENDPOINT_URL")
again=$(seconds)
echo "import of $count chargers on moto (strict stand-in): fresh ${fresh} s ($requests DynamoDB requests), again (per-charger updates, the former path) ${again} s"
"$venv/bin/python" -c 'import sys; f, a = int(sys.argv[1]), int(sys.argv[2]); print(f"fresh / again: {max(f, 1) / max(a, 1):.2f}")' "$fresh" "$again"
