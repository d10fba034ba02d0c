#!/usr/bin/env bash
# Issue 8's figures in one run: the biggest POST one request carries (150,000 ids; BENCH_IDS=…) on each
# backend, with its answer time against a 1,000-id baseline and the server's peak memory
# (scripts/bench-create.sh), then one run's AWS requests per charger by operation next to the minimum,
# its DynamoDB units and its list-price cost per 1,000 chargers (scripts/aws-requests.sh; CHARGERS=…).
# BENCH_COMPLETE_WITHIN (seconds, 600 here) bounds the wait for the big runs to complete.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== the biggest POST, on each backend"
BENCH_COMPLETE_WITHIN="${BENCH_COMPLETE_WITHIN:-600}" scripts/bench-create.sh
echo
echo "== requests per charger and cost of one run"
scripts/aws-requests.sh "${CHARGERS:-1000}"
