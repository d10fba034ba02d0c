#!/usr/bin/env bash
# Prints AWS requests per charger for one bulk run on the AWS adapters (moto's server on loopback,
# behind the strict stand-in), by operation, next to the batched minimum: every request sent, SDK
# retries included. Usage: scripts/aws-requests.sh [CHARGERS] [report|firmware|rollout]
# (`report`: OCPP 2.0.1 chargers and a GetBaseReport run, each answered with a 2-part report;
# `firmware`: an UpdateFirmware followed to each charger's boot into it; `rollout`: the same in 3 waves)
# The run is measured twice, each on a stand-in of its own:
#   1. as AWS behaves at this scale: the stand-in's contention (two transactions on one item cancel
#      one), partition and table throughput, and IAM, but no fault injected at random;
#   2. under the stand-in's injected faults as the tests meet them (scripts/strict_aws/config.py:
#      10 % of transactions cancelled, 3 % of DynamoDB requests throttled, 1 % answered 500, 2 % of
#      SQS messages delivered twice): what the retries they cause add, seen apart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cargo build --quiet --profile fast --locked -p ocpp-bulk-tests --example aws_requests
example="${CARGO_TARGET_DIR:-$root/target}/fast/examples/aws_requests"

echo "== 1. as AWS behaves at this scale (contention, throughput and IAM; no injected faults)"
(
  export STRICT_TRANSACTION_CONFLICT_RATE=0 STRICT_THROTTLE_RATE=0 STRICT_SERVER_ERROR_RATE=0 STRICT_SQS_DUPLICATE_RATE=0
  . scripts/moto.sh
  "$example" "${1:-1000}" ${2:+"$2"}
)
echo
echo "== 2. under the stand-in's injected faults (its default rates)"
(
  . scripts/moto.sh
  "$example" "${1:-1000}" ${2:+"$2"}
)
