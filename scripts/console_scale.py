"""The console on a run of 150,000 results, against a 100-result run measured in the same session
(the baseline): for the run page's "All" view, and its "Offline" and "Skipped" views (whose messages
are grouped at once, over the first 1,000 of the filter), the requests the page made, the bytes the API sent, the
time until the results table showed, and the page's JavaScript heap. Run by scripts/console-scale.sh
on the embedded backend, in Debian's headless Chromium.

A page never asks for more than one page of results plus at most 1,000 for the groups, whatever the
run's size: the figures of both runs should be alike, and the heap small.
"""

import json
import os
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "python"))
from local_stack import started as serving  # noqa: E402  (the Python tests' server starter)
from test_console import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

TOKEN = "scale-token-0123456789"
BIG = int(os.environ.get("CONSOLE_RESULTS", "150000"))
SMALL = 100
KNOWN = 1_000


def call(base, method, path, body=None):
    data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=180) as r:
        return json.loads(r.read())


def completed_run(base, ids):
    run = call(base, "POST", "/v3/chargers/commands/bulk", {"command": "ClearCache", "data": {}, "charger_ids": ids})
    run_id = run["data"]["uuid"]
    while call(base, "GET", f"/v3/chargers/commands/bulk/{run_id}?results=0")["data"]["status"] != "completed":
        time.sleep(0.5)
    return run_id


def view(browser, base, fragment):
    """(requests to the API, bytes they answered, seconds until the results table showed, JS heap MB)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/console")
    page.evaluate(f"sessionStorage.setItem('ocpp-bulk.token', {json.dumps(TOKEN)})")
    seen = []
    page.on("response", lambda response: seen.append(response))
    started = time.monotonic()
    page.goto(f"{base}/console#{fragment}")
    try:
        page.wait_for_selector("table.results")
    except Exception:
        # What the page showed instead, for whoever runs this.
        page.screenshot(path=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "console-scale-failed.png"))
        raise
    shown = time.monotonic() - started
    page.wait_for_load_state("networkidle")
    calls = [r for r in seen if "/v3/" in r.url]
    sent = sum(len(r.body()) for r in calls)
    heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 2**20
    context.close()
    return len(calls), sent, shown, heap


def main():
    known = [str(uuid.uuid4()) for _ in range(KNOWN)]
    fleet = {"tokens": [{"token": TOKEN, "user": "scale", "teams": ["scale"]}],
             "chargers": [{"uuid": u, "identity": f"S{i:05}", "team": "scale"} for i, u in enumerate(known)]}
    with serving(fleet) as (base, _, _):
        # None of the chargers is connected: each known one ends offline, each other id skipped.
        small = completed_run(base, known[:SMALL // 2] + [str(uuid.uuid4()) for _ in range(SMALL // 2)])
        big = completed_run(base, known + [str(uuid.uuid4()) for _ in range(BIG - KNOWN)])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            rows = []
            for label, fragment in [("All", ""), ("Offline", "?status=offline"), ("Skipped", "?status=skipped_forbidden")]:
                baseline = view(browser, base, f"/runs/{small}{fragment}")
                measured = view(browser, base, f"/runs/{big}{fragment}")
                rows.append((label, baseline, measured))
            browser.close()
    print(f"the console's run page: a run of {BIG:,} results against one of {SMALL} (the baseline), same session")
    print(f"{'view':<8} {'':>10} {'requests':>9} {'API bytes':>10} {'shown in':>9} {'JS heap':>8}")
    for label, baseline, measured in rows:
        for name, (n, sent, shown, heap) in [(f"{SMALL}", baseline), (f"{BIG:,}", measured)]:
            print(f"{label:<8} {name:>10} {n:>9} {sent:>10,} {shown:>8.2f}s {heap:>6.1f}MB")
        print(f"{label:<8} {'ratio':>10} {measured[0] / baseline[0]:>9.2f} {measured[1] / baseline[1]:>10.2f} "
              f"{measured[2] / baseline[2]:>9.2f} {measured[3] / max(baseline[3], 0.1):>8.2f}")


if __name__ == "__main__":
    main()
