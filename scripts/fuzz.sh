#!/usr/bin/env bash
# Fuzzes what strangers send (fuzz/fuzz_targets): `frame` (a charger's OCPP-J frame, parsed and
# answered), `bulk_body` (an API client's POST body: JSON, envelope, command schema), `cursor`
# (pagination cursors: no forgery accepted, ours round-trip). Each target runs SECONDS (default 300)
# under libFuzzer with AddressSanitizer (cargo-fuzz, nightly toolchain), from the committed seeds in
# fuzz/seeds plus what earlier runs found (fuzz/corpus, ignored by git). Prints one line per target:
# executions, speed, corpus size, findings. A finding is saved under fuzz/artifacts/TARGET/ and
# makes the script exit non-zero. Not part of the test command (it needs nightly and minutes).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame bulk_body cursor)
rustup toolchain list | grep -q '^nightly' || { echo "fuzz.sh needs a nightly toolchain (rustup toolchain install nightly)"; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="$PWD/target"
cargo +nightly fuzz build -O 2>&1 | tail -1
found=0
printf '%-10s %14s %10s %8s %9s\n' target executions "execs/s" corpus findings
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log="$CARGO_TARGET_DIR/$target.log"
  status=0
  cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    > "$log" 2>&1 || status=$?
  runs=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  speed=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  corpus=$(find "corpus/$target" -type f | wc -l)
  findings=$(find "artifacts/$target" -type f | wc -l)
  printf '%-10s %14s %10s %8s %9s\n' "$target" "$runs" "$speed" "$corpus" "$findings"
  if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
    found=1
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | head -5 || true
  fi
done
exit "$found"
