#!/usr/bin/env bash
# Every test of ocpp-bulk, from a fresh clone: formatting, lints, the Rust suites (unit, contract,
# end-to-end), and chargers built on the Python `ocpp` package. Installs what it needs (a venv
# under the repo) on first use; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n== %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests (unit, contract, end-to-end)"
cargo test --workspace --locked

step "Python ocpp package chargers against ocpp-bulk serve"
cargo build --locked -p ocpp-bulk
venv="$root/.venv-test"
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  echo "$want" > "$stamp"
fi
OCPP_BULK_BIN="$root/target/debug/ocpp-bulk" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
