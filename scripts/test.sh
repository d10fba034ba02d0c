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

step "tools (venv .venv-test) and moto's server on loopback"
. scripts/moto.sh

step "Rust tests (unit, contract: embedded and AWS on moto, end-to-end)"
cargo test --workspace --locked

step "Python ocpp package chargers against ocpp-bulk serve"
cargo build --locked -p ocpp-bulk
OCPP_BULK_BIN="$root/target/debug/ocpp-bulk" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
