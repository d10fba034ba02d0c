"""How long a POST of 150,000 charger ids (about the most that fits the 6 MiB event Lambda takes, written
without spaces; with a space after each comma it is a 413 that says so) takes to answer, and how much memory the server holds, on
each backend (the AWS one against moto's server behind the strict stand-in, which caps the table at
a cold on-demand table's 4,000 write units/s). Run by scripts/bench-create.sh, which starts moto.

Baseline, measured in the same run: a POST of 1,000 ids (created inline). Also reported: how long the
150,000-id run takes to complete (every result written, skipped or sent), and that its counters add up.
The memory figure is the whole `serve` process's peak resident set (API, worker and WebSocket server
together): an upper bound for the API's code path alone.
"""

import json
import os
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "python"))
from local_stack import started as serving  # noqa: E402  (the Python tests' server starter)

TOKEN = "bench-token-0123456789"
KNOWN = 1_000
BIG = int(os.environ.get("BENCH_IDS", "150000"))


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(base, ids):
    body = json.dumps({"command": "ClearCache", "data": {}, "charger_ids": ids, "timeout_seconds": 5},
                      separators=(",", ":")).encode()
    req = urllib.request.Request(base + "/v3/chargers/commands/bulk", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.loads(r.read())
    return time.monotonic() - started, answer["data"]


# How long one GET of the big run may take. On the AWS backend the run is read from moto, which
# applies DynamoDB requests one at a time: while the worker has a thousand requests queued there, a
# GET waits for its turn for tens of seconds. That measures moto's queue, not the API (on DynamoDB
# the GET's reads do not wait behind the worker's writes), so the wait is long.
READ_TIMEOUT = 180


def get(base, run):
    req = urllib.request.Request(f"{base}/v3/chargers/commands/bulk/{run}", headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=READ_TIMEOUT) as r:
        return json.loads(r.read())["data"]


def bench(backend):
    chargers = [{"uuid": str(uuid.uuid4()), "identity": f"B{i:05}", "team": "bench"} for i in range(KNOWN)]
    fleet = {"tokens": [{"token": TOKEN, "user": "bench", "teams": ["bench"]}], "chargers": chargers}
    with serving(fleet, backend, prefix="bench") as (base, _, proc):
        known = [c["uuid"] for c in chargers]
        small_s, _ = post(base, known)
        rss_before = peak_rss_mb(proc.pid)
        ids = known + [str(uuid.uuid4()) for _ in range(BIG - KNOWN)]
        big_s, run = post(base, ids)
        rss_after = peak_rss_mb(proc.pid)
        print(f"{backend:9} POST {KNOWN:>7,} ids (inline, baseline): {small_s * 1000:8.0f} ms")
        print(f"{backend:9} POST {BIG:>7,} ids (in chunks):         {big_s * 1000:8.0f} ms  "
              f"({big_s / small_s:.1f}x the baseline for {BIG // KNOWN}x the ids); answered {run['status']}, "
              f"total_count {run['total_count']:,}")
        print(f"{backend:9} serve's peak RSS: {rss_before:.0f} MB before the big POST, {rss_after:.0f} MB after "
              f"(the api function has 256 MB)", flush=True)
        started = time.monotonic()
        now = None
        limit = float(os.environ.get("BENCH_COMPLETE_WITHIN", "900"))
        while time.monotonic() - started < limit:
            try:
                now = get(base, run["uuid"])
            except OSError:
                now = None  # a read slower than READ_TIMEOUT while the worker writes: try again
            if now and now["status"] == "completed":
                break
            time.sleep(2)
        done_s = time.monotonic() - started
        if now:
            counted = sum(now[k] for k in ("sent_count", "offline_count", "error_count", "skipped_count"))
            print(f"{backend:9} the big run {now['status']} {done_s:.0f} s after its POST answered; counters "
                  f"{counted:,} of {now['total_count']:,} (skipped {now['skipped_count']:,}, offline {now['offline_count']:,})")
        else:
            print(f"{backend:9} the big run could not be read within {done_s:.0f} s")


if __name__ == "__main__":
    for backend in sys.argv[1:] or ["embedded", "aws"]:
        bench(backend)
