#!/usr/bin/env bash
# Prints AWS requests per charger for one bulk run on the AWS adapters (moto's server on loopback),
# by operation, next to the batched minimum. Usage: scripts/aws-requests.sh [CHARGERS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/moto.sh
cargo run --quiet --release --locked -p ocpp-bulk-tests --example aws_requests -- "${1:-1000}"
