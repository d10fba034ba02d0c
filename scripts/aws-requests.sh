#!/usr/bin/env bash
# Prints AWS requests per charger for one bulk run on the AWS adapters (moto's server on loopback),
# by operation, next to the batched minimum. Usage: scripts/aws-requests.sh [CHARGERS] [report]
# (`report`: OCPP 2.0.1 chargers and a GetBaseReport run, each answered with a 2-part report)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/moto.sh
cargo run --quiet --release --locked -p ocpp-bulk-tests --example aws_requests -- "${1:-1000}" ${2:+"$2"}
