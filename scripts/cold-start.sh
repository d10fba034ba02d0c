#!/usr/bin/env bash
# Each Lambda function's cold-start init, measured locally (scripts/cold_start.py): the release build
# for this machine, started against a stand-in for Lambda's runtime API, timed from process start to
# its first request for an event. Then, when cargo lambda is on PATH (pip install cargo-lambda), the
# size of each arm64 `bootstrap`, as `sam build` makes it (`--release`) and with the `lean`
# profile (Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$(pwd)/target}"
cargo build --release --locked -p api -p worker -p websocket
python3 scripts/cold_start.py "$target/release" "${1:-7}"
if command -v cargo-lambda > /dev/null; then
  for profile in release lean; do
    cargo lambda build --profile "$profile" --arm64 --locked -p api -p worker -p websocket
    for f in api worker websocket; do
      printf '%-9s arm64 bootstrap, %-7s profile: %5.1f MB\n' "$f" "$profile" \
        "$(python3 -c 'import os, sys; print(os.path.getsize(sys.argv[1]) / 1e6)' "$target/lambda/$f/bootstrap")"
    done
  done
fi
