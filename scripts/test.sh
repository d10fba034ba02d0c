#!/usr/bin/env bash
# Every test of ocpp-bulk, from a fresh clone: formatting, lints, the SAM template (cfn-lint, sam
# validate), the Rust suites (unit, contract on the embedded and the AWS adapters, end-to-end, sample
# events, template checks), a small run of scripts/strict-aws-proof.sh (a SIGKILL mid-run included),
# schemathesis against docs/openapi.yaml, Python tests (chargers built on the `ocpp` package, the
# strict stand-in itself, the console in Debian's headless Chromium), and the IAM verdict: no function called AWS outside its template policy. The AWS adapters always meet the strict stand-in (scripts/strict_aws/).
# Installs what it needs on first use (a venv under the repo), starts moto's server on a free
# loopback port for the AWS adapters, and stops it again. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# Cargo's target directory (CARGO_TARGET_DIR when set, as a shared one may be).
bin="${CARGO_TARGET_DIR:-$root/target}/debug/ocpp-bulk"

step() { printf '\n== %s\n' "$*"; }

# Debian's Chromium for the console's browser tests, installed when missing while the Rust builds
# run (scripts/chromium.sh; its output in target/chromium-install.log).
mkdir -p "$root/target"
scripts/chromium.sh > "$root/target/chromium-install.log" 2>&1 &
chromium_pid=$!

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Each Lambda function alone, as `cargo lambda build --bin NAME` builds it: without the CLI's and the
# tests' features (request counting), which the workspace build above unifies in, nor its siblings'
# (the management API is the worker's and the websocket's, not the api's).
for function in api worker websocket; do cargo clippy --locked -p "$function" -- -D warnings; done
# Each function alone depends on nothing it never runs (scripts/function-deps.sh).
scripts/function-deps.sh

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

cargo build --locked -p ocpp-bulk

step "the AWS data path at small scale under the strict stand-in: a run, and a run whose server is killed with SIGKILL"
OCPP_BULK_BIN="$bin" PROOF_TIMEOUT=15 scripts/strict-aws-proof.sh 400

step "schemathesis: the API against docs/openapi.yaml"
api_port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$api_port" --fleet fleet.example.json > "$root/target/schemathesis-serve.log" 2>&1 &
api_pid=$!
trap 'kill "$api_pid" "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  "$venv/bin/python" -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$api_port" 2>/dev/null && break
  sleep 0.1
done
# positive_data_acceptance is left out: `data` is an object in the spec, but the official OCPP schema of
# each command decides what it may hold, so a random object is rightly a 422.
"$venv/bin/schemathesis" run docs/openapi.yaml --url "http://127.0.0.1:$api_port" \
  -H "Authorization: Bearer dev-token-alice" --checks all --exclude-checks positive_data_acceptance \
  --max-examples 30 --generation-deterministic --report-dir "$root/target/schemathesis"

step "Chromium for the console's browser tests"
if ! wait "$chromium_pid"; then
  cat "$root/target/chromium-install.log"
  echo "scripts/chromium.sh failed" >&2
  exit 1
fi
/usr/bin/chromium --version 2>/dev/null

step "Python: ocpp package chargers against ocpp-bulk serve, the console in Chromium"
OCPP_BULK_BIN="$bin" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python

# Every AWS request above that a function made was signed as that function and held to its policy
# in template.yaml by the strict stand-in (scripts/strict_aws/iam.py): any call outside it fails here,
# as it would be AccessDenied on AWS, and so does a function whose traffic was never checked.
step "IAM: every function's calls within its policy in template.yaml"
"$venv/bin/python" scripts/iam_verdict.py "$AWS_ENDPOINT_URL"
