#!/usr/bin/env bash
# Every test of ocpp-bulk, from a fresh clone: formatting, lints, the SAM template (cfn-lint, sam
# validate), the Rust suites (unit, contract on the embedded and the AWS adapters, end-to-end, sample
# events, template checks), and chargers built on the Python `ocpp` package.
# Installs what it needs on first use (a venv under the repo), starts moto's server on a free
# loopback port for the AWS adapters, and stops it again. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n== %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tools (venv .venv-test) and moto's server on loopback"
. scripts/moto.sh

step "template: cfn-lint and sam validate --lint (aws-sam-cli in .venv-sam)"
"$venv/bin/cfn-lint" template.yaml
sam_venv="$root/.venv-sam"
sam_want=$(sha256sum scripts/requirements-sam.txt | cut -d' ' -f1)
if [ ! -x "$sam_venv/bin/sam" ] || [ "$(cat "$sam_venv/.requirements.sha256" 2>/dev/null)" != "$sam_want" ]; then
  python3 -m venv "$sam_venv"
  "$sam_venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-sam.txt
  echo "$sam_want" > "$sam_venv/.requirements.sha256"
fi
env -u AWS_ENDPOINT_URL SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 "$sam_venv/bin/sam" validate --lint --template template.yaml

step "Rust tests (unit, contract: embedded and AWS on moto, end-to-end)"
cargo test --workspace --locked

step "Python ocpp package chargers against ocpp-bulk serve"
cargo build --locked -p ocpp-bulk
OCPP_BULK_BIN="$root/target/debug/ocpp-bulk" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
