#!/usr/bin/env bash
# Every test of ocpp-bulk, from a fresh clone: formatting, lints, the Rust suites (unit, contract on
# the embedded and the AWS adapters, end-to-end), and chargers built on the Python `ocpp` package.
# Installs what it needs on first use (a venv under the repo), starts moto's server on a free
# loopback port for the AWS adapters, and stops it again. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n== %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tools (venv .venv-test)"
venv="$root/.venv-test"
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  echo "$want" > "$stamp"
fi

step "moto's server on loopback"
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/python" scripts/moto_server.py "$port" > "$root/target/moto.log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true; wait "$moto" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
  kill -0 "$moto" 2>/dev/null || { cat "$root/target/moto.log"; exit 1; }
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "moto on $AWS_ENDPOINT_URL"

step "Rust tests (unit, contract: embedded and AWS on moto, end-to-end)"
cargo test --workspace --locked

step "Python ocpp package chargers against ocpp-bulk serve"
cargo build --locked -p ocpp-bulk
OCPP_BULK_BIN="$root/target/debug/ocpp-bulk" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
