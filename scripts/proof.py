"""Helpers of scripts/strict-aws-proof.sh: a generated fleet, and a run followed to its end and
checked against a recount of its results. Standard library only.

  proof.py fleet N                      a fleet of N chargers (one token) as JSON on stdout
  proof.py post API TOKEN FLEET COMMAND TIMEOUT     POSTs a run for every charger; prints its id
  proof.py wait API TOKEN RUN [FRACTION]            follows the run until FRACTION of it is done
                                                    (default: completed), printing progress
  proof.py check API TOKEN RUN                      recounts every result against the counters
  proof.py connected API TOKEN N                    waits until N chargers are connected
  proof.py stand-in stats|reset                     the strict stand-in's fault counts (AWS_ENDPOINT_URL)
  proof.py stand-in capacity WCU RCU                sets its partitions' throughput (tallies start over)
  proof.py hot-keys API TOKEN RUN CAP               each partition of RUN, scaled to 150,000 chargers at
                                                    the dispatch cap; fails if one would be over its limit
"""

import json
import os
import sys
import time
import urllib.request
import uuid

TOKEN = "proof-token-0001"


def fleet(count):
    chargers = [
        {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"proof/{i}")), "identity": f"PROOF{i:06}", "team": "proof"}
        for i in range(count)
    ]
    return {"tokens": [{"token": TOKEN, "user": "prover", "teams": ["proof"]}], "chargers": chargers}


def call(api, token, method, path, body=None, idempotency_key=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    if idempotency_key:
        request.add_header("Idempotency-Key", idempotency_key)  # so a retried POST creates one run
    for attempt in range(60):
        try:
            # Creation writes every result before answering (slow on moto): wait for it.
            with urllib.request.urlopen(request, timeout=900) as response:
                return json.load(response)
        except (ConnectionError, TimeoutError, urllib.error.URLError) as err:
            if isinstance(err, urllib.error.HTTPError) and err.code < 500:
                raise
            time.sleep(1)  # the server is being restarted
    raise SystemExit(f"{method} {path}: no answer")


# What each command of the proof sends, to the 1.6 chargers and to the 2.0.1 ones (the simulators
# speak both: a run is mixed). An inventory is a 1.6 GetConfiguration of every key, and a 2.0.1
# GetBaseReport FullInventory (its parts each their own item).
FIRMWARE = "https://fw.example/sim-2.0.bin"
COMMANDS = {
    "Reset": ({"type": "Soft"}, ("Reset", {"type": "Immediate"})),
    "ClearCache": ({}, ("ClearCache", {})),
    "UpdateFirmware": ({"location": FIRMWARE, "retrieveDate": "2026-01-01T00:00:00Z"},
                       ("UpdateFirmware", {"requestId": 1, "firmware": {"location": FIRMWARE,
                                                                        "retrieveDateTime": "2026-01-01T00:00:00Z"}})),
    "GetConfiguration": ({}, ("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"})),
}


def post(api, token, fleet_path, command, timeout):
    chargers = json.load(open(fleet_path))["chargers"]
    data, (command201, data201) = COMMANDS[command]
    body = {"command": command, "data": data, "versions": {"ocpp2.0.1": {"command": command201, "data": data201}},
            "charger_ids": [c["uuid"] for c in chargers], "timeout_seconds": int(timeout)}
    if command == "UpdateFirmware":
        # A firmware rollout in three waves, each install followed to its end (a notification lost to
        # the kill is asked for again by TriggerMessage when the outcome timeout comes).
        body["outcome"] = {"timeout_seconds": 20}
        body["rollout"] = {"waves": ["10%", "30%", "rest"]}
    started = time.monotonic()
    run = call(api, token, "POST", "/v3/chargers/commands/bulk", body, idempotency_key=str(uuid.uuid4()))["data"]
    print(f"POST of {len(chargers)} ids answered in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(run["uuid"])


def wait(api, token, run_id, fraction=None):
    started, last = time.monotonic(), 0
    while True:
        run = call(api, token, "GET", f"/v3/chargers/commands/bulk/{run_id}")["data"]
        done = sum(run[k] for k in ("sent_count", "offline_count", "error_count", "skipped_count"))
        if time.monotonic() - last > 10:
            print(f"  {time.monotonic() - started:6.0f} s: {done}/{run['total_count']} done, "
                  f"sent {run['sent_count']}, offline {run['offline_count']}, error {run['error_count']}", file=sys.stderr)
            last = time.monotonic()
        if run["status"] == "completed" or (fraction and done >= float(fraction) * run["total_count"]):
            print(f"  {run['status']} after {time.monotonic() - started:.0f} s", file=sys.stderr)
            return
        time.sleep(2)


def check(api, token, run_id):
    run = call(api, token, "GET", f"/v3/chargers/commands/bulk/{run_id}")["data"]
    counts, messages, cursor = {}, {}, None
    while True:
        page = call(api, token, "GET", f"/v3/chargers/commands/bulk/{run_id}/results?per_page=1000"
                    + (f"&cursor={cursor}" if cursor else ""))
        for result in page["data"]:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            if result["status"] != "sent":
                key = (result.get("message") or "")[:60]
                messages[key] = messages.get(key, 0) + 1
        cursor = page["meta"].get("next_cursor")
        if not cursor:
            break
    counters = {s: run[f"{s}_count"] for s in ("sent", "offline", "error")}
    recount = {s: counts.get(s, 0) for s in ("sent", "offline", "error")}
    exact = counters == recount and counts.get("pending", 0) == 0 and sum(counts.values()) == run["total_count"]
    outcome = run.get("outcome")
    if outcome:
        # Every sent result's outcome ended, each counted once.
        ended = sum(outcome[f"{s}_count"] for s in ("succeeded", "failed", "stalled"))
        exact = exact and ended == run["sent_count"] and outcome["open_count"] == 0
    print(f"run {run_id}: {run['status']}, total {run['total_count']}, counters {counters}, "
          f"recount {recount}, pending {counts.get('pending', 0)} -> {'EXACT' if exact else 'MISMATCH'}")
    if outcome:
        print(f"    outcomes: {outcome['succeeded_count']} succeeded, {outcome['failed_count']} failed, "
              f"{outcome['stalled_count']} stalled; rollout reached wave {run['rollout']['wave']} of "
              f"{len(run['rollout']['wave_sizes'])}")
    for message, n in sorted(messages.items(), key=lambda kv: -kv[1]):
        print(f"    {n:6} × {message}")
    if not exact or run["status"] != "completed":
        raise SystemExit(1)


def connected(api, token, count):
    """Waits (up to 3 minutes) until `count` chargers are connected again, as the fleet view says."""
    started, seen = time.monotonic(), 0
    while time.monotonic() - started < 180:
        seen, cursor = 0, None
        while True:
            page = call(api, token, "GET", "/v3/chargers?connected=true&per_page=1000"
                        + (f"&cursor={cursor}" if cursor else ""))
            seen += len(page["data"])
            cursor = page["meta"].get("next_cursor")
            if not cursor:
                break
        if seen >= int(count):
            print(f"  {seen} chargers connected after {time.monotonic() - started:.0f} s", file=sys.stderr)
            return
        time.sleep(2)
    raise SystemExit(f"only {seen} of {count} chargers connected again")


def stand_in(action, *rates):
    url = os.environ["AWS_ENDPOINT_URL"] + "/strict-api/" + action
    data = None if action == "stats" else b""
    if action == "capacity":
        data = json.dumps({"partition_wcu": float(rates[0]), "partition_rcu": float(rates[1])}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        print(response.read().decode())


# At 150,000 chargers a run's results lie in 30 partitions (5,000 each, position mod 30) and the
# stack sends 3,000 CALLs a second (DispatchPerSecond): each results partition takes 100 answers a
# second, against 1,000 write and 3,000 read units (docs/data-model.md, "Hot keys at the scale of
# the test"). A test whose one results partition takes CAP answers a second stands for it with its
# partitions' throughput scaled by CAP / 100.
ANSWERS_PER_PARTITION = 100
PARTITION_LIMITS = {"write": 1000, "read": 3000}


def hot_keys(api, token, run_id, cap):
    """Each partition of the run that took units, per result in it, and what that is a second for a
    partition at 150,000 chargers; exits 1 when one would pass a partition's limit there."""
    total = call(api, token, "GET", f"/v3/chargers/commands/bulk/{run_id}")["data"]["total_count"]
    per_partition = total / max(1, -(-total // 5000))  # results per results partition (RUN#id#R{k})
    url = os.environ["AWS_ENDPOINT_URL"] + f"/strict-api/partitions?top=100000&match={run_id}"
    with urllib.request.urlopen(url, timeout=10) as response:
        rows = json.load(response)["partitions"]
    print(f"   partitions of the run (throughput scaled by {int(cap) / ANSWERS_PER_PARTITION:g}, "
          f"{per_partition:.0f} results per results partition):")
    over, shown = [], {}
    for row in rows:  # the busiest of each kind of partition: #R{k} results, #C{k} counters, #A{seq} answers
        name = row["key"].split(run_id, 1)[-1] or "(META)"
        kind = (row["kind"], name.rstrip("0123456789"))
        shown[kind] = shown.get(kind, 0) + 1
        if shown[kind] > 1:
            continue
        line = f"     {row['kind']:5} {name:10} {row['units']:9.1f} units, {row['throttled']:4} throttled"
        if name.startswith("#R"):
            per_result = row["units"] / per_partition
            at_scale = per_result * ANSWERS_PER_PARTITION
            limit = PARTITION_LIMITS[row["kind"]]
            line += f"; {per_result:.2f} a result: {at_scale:,.0f} units/s at 150,000 chargers (limit {limit:,})"
            if at_scale > limit:
                over.append(f"{row['kind']} {name}")
        print(line)
    for (kind, name), n in shown.items():
        if n > 1:
            print(f"     ({kind} {name}*: the busiest of {n} partitions shown)")
    # Table-wide: every partition of the run together, against a table's default throughput quota
    # (40,000 units a second each way), at 3,000 answers a second and at the 300 an inventory's
    # weight of ten CALLs lets through (worker::pace::INVENTORY_WEIGHT).
    for kind in ("write", "read"):
        per_result = sum(row["units"] for row in rows if row["kind"] == kind) / max(1, total)
        print(f"     {kind} units of the whole run: {per_result:.2f} a result: {per_result * 3000:,.0f}/s at 3,000 "
              f"answers/s, {per_result * 300:,.0f}/s at 300 (a table's default quota: 40,000)")
    if over:
        print(f"   HOT at 150,000 chargers: {', '.join(over)}")
        raise SystemExit(1)


if __name__ == "__main__":
    verb, args = sys.argv[1], sys.argv[2:]
    if verb == "fleet":
        json.dump(fleet(int(args[0])), sys.stdout)
    else:
        {"post": post, "wait": wait, "check": check, "stand-in": stand_in, "hot-keys": hot_keys,
         "connected": connected}[verb](*args)
