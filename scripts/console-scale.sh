#!/usr/bin/env bash
# The console on a run of 150,000 results against a 100-result baseline, in Debian's headless
# Chromium (scripts/console_scale.py): requests, bytes, time to the results table, JS heap.
# CONSOLE_RESULTS=… for another size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/venv.sh
scripts/chromium.sh
cargo build --locked -p ocpp-bulk
OCPP_BULK_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/ocpp-bulk" "$venv/bin/python" scripts/console_scale.py "$@"
