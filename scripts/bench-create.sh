#!/usr/bin/env bash
# The 150,000-id POST (about the most Lambda's 6 MiB event carries) on both backends (scripts/create_bench.py): its answer time against a 1,000-id
# baseline, the server's peak memory, and how long the run takes to complete. Starts moto's server
# (behind the strict stand-in) for the AWS backend. BENCH_IDS=… for another size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/moto.sh
cargo build --locked -p ocpp-bulk
OCPP_BULK_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/ocpp-bulk" "$venv/bin/python" scripts/create_bench.py "$@"
