#!/usr/bin/env bash
# The local AWS stand-in for `cargo lambda watch` and `ocpp-bulk serve --backend aws`: moto's server
# behind the strict stand-in (STRICT_AWS=0: plain moto) on 127.0.0.1:5000 (the address
# [workspace.metadata.lambda.env] names; MOTO_PORT for another), the tables and queues under the
# prefix ocpp-bulk-local, and fleet.example.json imported. Runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
MOTO_PORT=${MOTO_PORT:-5000} . scripts/moto.sh
cargo run -p ocpp-bulk -- init --prefix ocpp-bulk-local
cargo run -p ocpp-bulk -- import --prefix ocpp-bulk-local --fleet fleet.example.json
echo "ready: tables under ocpp-bulk-local; Ctrl-C to stop"
wait "$moto_pid"
