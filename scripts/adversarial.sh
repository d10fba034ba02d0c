#!/usr/bin/env bash
# Replays the hostile-input attacks (issue 9) against a local `ocpp-bulk serve` on loopback and
# prints attack → result (scripts/adversarial.py). Bounded: a fixed amount of loopback traffic, a
# minute or so. OCPP_BULK_BIN names a binary already built; otherwise the debug build is made.
# Exits non-zero when a door is open.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/venv.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ -z "${OCPP_BULK_BIN:-}" ]; then
  cargo build --locked -p ocpp-bulk
fi
OCPP_BULK_BIN="${OCPP_BULK_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/ocpp-bulk}" exec "$venv/bin/python" scripts/adversarial.py
