#!/usr/bin/env bash
# ocpp-bulk's embedded stack against the peer (../shared/bench: an in-memory ocpp-rpc central system),
# in one run on one machine, every figure a ratio against the peer measured in the same run:
#   1. time: ../shared/bench/compare.sh at 1,000, 10,000 and 15,000 chargers (POST to `completed`,
#      every result persisted, against the peer's broadcast to its last answer);
#   2. CPU: what the serve process spends on the CPU per charger during a 10,000-charger Reset
#      (its threads' time on a CPU, from /proc, POST to `completed`);
#   3. memory: resident memory per idle connection, 3,000 booted chargers and no run, in serve and in
#      the peer's server, on the same ocpp-rpc fleet.
# Usage: scripts/bench-peer.sh [BINARY] [IDLE_CHARGERS]. BINARY defaults to the `fast` profile's build
# (`cargo build --profile fast -p ocpp-bulk`, Cargo.toml), the one to run and benchmark locally.
# Takes a few minutes; needs node, npm, python3 and curl (compare.sh installs ocpp-rpc on first use).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${1:-${CARGO_TARGET_DIR:-$root/target}/fast/ocpp-bulk}
idle=${2:-3000}
bench="$root/../shared/bench"
work=${BENCH_CACHE:-${TMPDIR:-/tmp}/ocpp-bench}
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --profile fast -p ocpp-bulk" >&2; exit 1; }
[ -d "$bench" ] || { echo "the peer benchmark is not beside the repo ($bench)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true

echo "== 1. time: compare.sh, peer and ocpp-bulk one after the other ($bin)"
for count in 1000 10000 15000; do "$bench/compare.sh" "$bin" "$count"; done

# A generated fleet file of COUNT chargers named BIG00000…, as compare.sh writes it.
fleet_file() {
  python3 - "$1" "$2" > "$3" <<'PY'
import json, sys, uuid
n, tok = int(sys.argv[1]), sys.argv[2]
print(json.dumps({"tokens": [{"token": tok, "user": "bench", "teams": ["bench"]}],
  "chargers": [{"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{i}")), "identity": f"BIG{i:05d}",
                "reference": f"bench {i}", "team": "bench"} for i in range(n)]}))
PY
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# The time a process's threads have spent on a CPU, in microseconds (schedstat: nanoseconds, exact,
# where /proc/PID/stat counts 10 ms ticks).
cpu_us() { cat "/proc/$1/task/"*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%d", ns / 1000}'; }
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; }
wait_connected() { for _ in $(seq 900); do grep -q connected "$1" && return 0; sleep 0.1; done; return 1; }

echo
echo "== 2. CPU of serve per charger, a 10,000-charger Reset"
count=10000; token="bench-$RANDOM$RANDOM"; fleet="$work/fleet-cpu.json"
fleet_file "$count" "$token" "$fleet"
"$bin" serve --listen 127.0.0.1:9112 --fleet "$fleet" > "$work/serve-cpu.log" 2>&1 & srv=$!
wait_port 9112
node "$work/fleet.js" --url ws://127.0.0.1:9112/ocpp --count "$count" > "$work/fleet-cpu.out" 2>&1 & fl=$!
wait_connected "$work/fleet-cpu.out"; sleep 1
before=$(cpu_us "$srv")
ours=$(node "$work/bulk-run.js" --api http://127.0.0.1:9112 --token "$token" --fleet "$fleet" 2>&1 | tail -1)
after=$(cpu_us "$srv")
kill "$fl" "$srv" 2>/dev/null; wait "$fl" "$srv" 2>/dev/null
echo "$ours"
python3 -c "print(f'serve CPU during the run: {($after - $before) / 1e6:.2f} s, {($after - $before) / $count:.0f} µs per charger')"

echo
echo "== 3. resident memory per idle connection, $idle booted chargers, no run"
token="bench-$RANDOM$RANDOM"; fleet="$work/fleet-idle.json"
fleet_file "$idle" "$token" "$fleet"
# The peer's server, told to wait for one charger more than come, so it never broadcasts.
node "$work/baseline-server.js" --port 9113 --count $((idle + 1)) & peer=$!
sleep 1; peer_before=$(rss_kb "$peer")
node "$work/fleet.js" --url ws://127.0.0.1:9113 --count "$idle" > "$work/fleet-peer.out" 2>&1 & fl=$!
wait_connected "$work/fleet-peer.out"; sleep 2; peer_after=$(rss_kb "$peer")
kill "$fl" "$peer" 2>/dev/null; wait "$fl" "$peer" 2>/dev/null
"$bin" serve --listen 127.0.0.1:9114 --fleet "$fleet" > "$work/serve-idle.log" 2>&1 & srv=$!
wait_port 9114; sleep 1; ours_before=$(rss_kb "$srv")
node "$work/fleet.js" --url ws://127.0.0.1:9114/ocpp --count "$idle" > "$work/fleet-idle.out" 2>&1 & fl=$!
wait_connected "$work/fleet-idle.out"; sleep 2; ours_after=$(rss_kb "$srv")
kill "$fl" "$srv" 2>/dev/null; wait "$fl" "$srv" 2>/dev/null
python3 - "$idle" "$peer_before" "$peer_after" "$ours_before" "$ours_after" <<'PY'
import sys
n, pb, pa, ob, oa = map(int, sys.argv[1:])
peer, ours = (pa - pb) / n, (oa - ob) / n
print(f"peer:      {pb / 1024:6.1f} MB -> {pa / 1024:6.1f} MB, {peer:5.1f} KB per connection")
print(f"ocpp-bulk: {ob / 1024:6.1f} MB -> {oa / 1024:6.1f} MB, {ours:5.1f} KB per connection")
print(f"ratio ocpp-bulk/peer, memory per idle connection: {ours / peer:.2f}")
PY
