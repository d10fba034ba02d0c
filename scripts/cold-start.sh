#!/usr/bin/env bash
# Each Lambda function's cold-start init, measured locally (scripts/cold_start.py): the release build
# for this machine, each function built alone (its own features, as `sam build` builds it), started
# against a stand-in for Lambda's runtime API, timed from process start to its first request for an
# event. Then, when cargo lambda is on PATH (pip install cargo-lambda), the size of each arm64
# `bootstrap` as `sam build` makes it: `cargo lambda build --release --arm64 --bin NAME` in the
# function's own directory (the template's CodeUri), so that Cargo resolves its features alone.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$(pwd)/target}"
for f in api worker websocket; do cargo build --release --locked -p "$f"; done
python3 scripts/cold_start.py "$target/release" "${1:-7}"
if command -v cargo-lambda > /dev/null; then
  for f in api worker websocket; do
    (cd "functions/$f" && cargo lambda build --release --arm64 --locked --bin "$f")
    printf '%-9s arm64 bootstrap, as sam build makes it: %5.1f MB\n' "$f" \
      "$(python3 -c 'import os, sys; print(os.path.getsize(sys.argv[1]) / 1e6)' "$target/lambda/$f/bootstrap")"
  done
fi
