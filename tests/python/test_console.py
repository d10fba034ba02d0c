"""The console (`/console`) in a real browser: Debian's headless Chromium, driven by Playwright,
against `ocpp-bulk serve` with 20 simulated chargers (`ocpp-bulk sim`: 14 accept, 2 reject, 2 answer
CALLERROR, 2 never answer) and one hostile charger written here, whose every word is an HTML payload.

Each test keeps a screenshot of the pages it saw in target/console-screenshots/, and the weight of a
run page (bytes the browser received for it) goes to target/console-screenshots/weight.txt.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest
import websockets

import local_stack

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As root and on a machine without a network: no sandbox, and none of Chromium's own connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SHOTS = os.path.join(local_stack.ROOT, "target", "console-screenshots")

TOKEN = "console-token-0123456789"
OTHER_TOKEN = "console-other-token-0123"
SIMULATED = [f"CON{i:03}" for i in range(1, 21)]
HOSTILE = "HOSTILE"
HOSTILE201 = "HOSTILE201"
# What a hostile charger says: markup that would run script if it were ever parsed as HTML.
PAYLOAD = '<img src=x onerror="window.pwned=1">'
# As a BootNotification's chargePointVendor, at most 20 characters.
VENDOR = "<svg onload=alert()>"
# Elements any of it would have made, had it been parsed.
PARSED = "main img, main svg, main [onerror], main [onload]"


def charger_uuid(identity):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "console/" + identity))


FLEET = {
    "tokens": [{"token": TOKEN, "user": "console", "teams": ["console"]},
               {"token": OTHER_TOKEN, "user": "elsewhere", "teams": ["elsewhere"]}],
    "chargers": [{"uuid": charger_uuid(i), "identity": i, "reference": PAYLOAD if i == HOSTILE else f"Bay {i}",
                  "team": "console"} for i in SIMULATED + [HOSTILE, HOSTILE201]],
}


async def hostile_charger(ws_base, stop):
    """Boots saying its firmware is PAYLOAD, answers DataTransfer with PAYLOAD as data and anything else
    with a CALLERROR whose description is PAYLOAD."""
    async with websockets.connect(f"{ws_base}/{HOSTILE}", subprotocols=["ocpp1.6"]) as ws:
        boot = {"chargePointVendor": VENDOR, "chargePointModel": "X1", "firmwareVersion": PAYLOAD}
        await ws.send(json.dumps([2, "boot-1", "BootNotification", boot]))
        async for frame in calls(ws, stop):
            if frame[2] == "DataTransfer":
                await ws.send(json.dumps([3, frame[1], {"status": "Accepted", "data": PAYLOAD}]))
            else:
                await ws.send(json.dumps([4, frame[1], "InternalError", PAYLOAD, {"html": PAYLOAD}]))


async def hostile_charger_201(ws_base, stop):
    """An OCPP 2.0.1 charger that accepts GetBaseReport and reports PAYLOAD as a component's name and a
    variable's value, in one NotifyReport."""
    async with websockets.connect(f"{ws_base}/{HOSTILE201}", subprotocols=["ocpp2.0.1"]) as ws:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "X2", "vendorName": "Hostile"}}
        await ws.send(json.dumps([2, "boot-1", "BootNotification", boot]))
        async for frame in calls(ws, stop):
            await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
            if frame[2] == "GetBaseReport":
                entry = {"component": {"name": PAYLOAD}, "variable": {"name": "Html"},
                         "variableAttribute": [{"value": PAYLOAD}]}
                part = {"requestId": frame[3]["requestId"], "generatedAt": "2026-12-07T10:00:00Z", "seqNo": 0,
                        "tbc": False, "reportData": [entry]}
                await ws.send(json.dumps([2, "report-0", "NotifyReport", part]))


async def calls(ws, stop):
    """The CALLs a charger receives until `stop` is set."""
    while not stop.is_set():
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
        except asyncio.TimeoutError:
            continue
        if frame[0] == 2:
            yield frame


def hostile_chargers(ws_base, stop):
    async def both():
        await asyncio.gather(hostile_charger(ws_base, stop), hostile_charger_201(ws_base, stop))
    asyncio.run(both())


@pytest.fixture(scope="module")
def stack():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium package")
    with local_stack.started(FLEET) as (base, ws_base, _):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(FLEET, f)
        sim = subprocess.Popen([local_stack.BINARY, "sim", "--url", ws_base, "--fleet", f.name,
                                "--mix", "accept=14,reject=2,error=2,silent=2", "--limit", str(len(SIMULATED))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stop = threading.Event()
        hostile = threading.Thread(target=hostile_chargers, args=(ws_base, stop), daemon=True)
        hostile.start()
        try:
            wait_connected(base, len(SIMULATED) + 2)
            yield base
        finally:
            stop.set()
            sim.terminate()
            sim.wait(timeout=10)
            hostile.join(timeout=5)
            os.unlink(f.name)


def wait_connected(base, n):
    for _ in range(300):
        status, body = local_stack.api(base, TOKEN, "GET", "/v3/chargers?connected=true&per_page=100")
        if status == 200 and len(body["data"]) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} chargers connected")


@pytest.fixture(scope="module")
def browser():
    shutil.rmtree(SHOTS, ignore_errors=True)
    os.makedirs(SHOTS, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh tab; the test fails on any script error or Content-Security-Policy violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" and "Failed to load resource" not in m.text else None)
    yield tab
    context.close()
    assert not problems, problems


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def sign_in(page, base, token=TOKEN):
    page.goto(base + "/console")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("table.runs, p.empty")


def figure(page, status):
    return int(page.inner_text(f'dd[data-status="{status}"]').replace(",", ""))


def wait_state(page, state, timeout=30_000):
    page.wait_for_selector(f"h1 .badge.{state}", timeout=timeout)


def api(base, method, path, body=None, token=TOKEN):
    return local_stack.api(base, token, method, path, body)


def create(base, **body):
    status, created = api(base, "POST", "/v3/chargers/commands/bulk", body)
    assert status == 202, created
    return created["data"]["uuid"]


def test_sign_in_keeps_the_token_in_the_tab_only(stack, page, browser):
    page.goto(stack + "/console")
    page.fill("#token", "not-a-token-at-all")
    page.click("button[type=submit]")
    page.wait_for_selector("p.error")
    assert "not known" in page.inner_text("p.error")
    shot(page, "sign-in-refused")

    sign_in(page, stack)
    shot(page, "runs")
    assert TOKEN not in page.url
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("sessionStorage.getItem('ocpp-bulk.token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    # Another tab has its own session: signed out.
    other = page.context.new_page()
    other.goto(stack + "/console")
    other.wait_for_selector("#token")
    other.close()
    page.click("#sign-out")
    page.wait_for_selector("#token")
    assert page.evaluate("sessionStorage.getItem('ocpp-bulk.token')") is None

    # A link to a run, opened signed out, leads there once signed in.
    run = create(stack, command="ClearCache", data={}, charger_ids=[charger_uuid(SIMULATED[0])])
    page.goto(f"{stack}/console#/runs/{run}")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("h1 .badge")
    assert run in page.inner_text("code.uuid")
    # A token the API stops knowing signs the tab out.
    page.evaluate("sessionStorage.setItem('ocpp-bulk.token', 'revoked-token-0123456789')")
    page.goto(f"{stack}/console#/runs")
    page.wait_for_selector("#token")
    assert page.evaluate("sessionStorage.getItem('ocpp-bulk.token')") is None


def test_send_a_command_checked_against_its_schema_and_watch_the_run_complete(stack, page):
    sign_in(page, stack)
    page.click("#nav a[data-view=send]")
    page.wait_for_selector("#command option", state="attached")
    page.select_option("#command", "Reset")
    page.fill("#data", '{"type": "Sideways"}')
    page.fill("#charger-ids", "\n".join(charger_uuid(i) for i in SIMULATED))
    # Checked as typed, with the errors the POST would give, before anything is sent.
    playwright_api.expect(page.locator("#verdict")).to_contain_text("Sideways")
    assert "data.type" in page.inner_text("#verdict")
    shot(page, "send-refused")
    page.fill("#data", '{"type": "Soft"}')
    page.fill("#timeout", "3")
    page.wait_for_selector("#verdict li.ok")
    assert "ocpp1.6 chargers: Reset is sent" in page.inner_text("#verdict")
    shot(page, "send")
    page.click("#send")
    page.wait_for_selector("h1 .badge")
    wait_state(page, "completed")
    shot(page, "run-completed")
    assert (figure(page, "sent"), figure(page, "error"), figure(page, "pending")) == (16, 4, 0)
    playwright_api.expect(page.locator("table.results tbody .badge.sent")).to_have_count(16)
    playwright_api.expect(page.locator("table.results tbody .badge.error")).to_have_count(4)
    page.click("button:has-text('Group the messages')")
    playwright_api.expect(page.locator("table.groups")).to_contain_text("Accepted")


def test_filter_the_errors_then_retry_them(stack, page):
    run = create(stack, command="Reset", data={"type": "Hard"}, timeout_seconds=3,
                 charger_ids=[charger_uuid(i) for i in SIMULATED])
    sign_in(page, stack)
    page.goto(f"{stack}/console#/runs/{run}")
    wait_state(page, "completed")
    page.click(".filters a:has-text('Error')")
    page.wait_for_selector("table.results tbody tr")
    # (Locators, not wait_for_function: the page's policy forbids the eval that would take.)
    playwright_api.expect(page.locator("table.results tbody tr")).to_have_count(4)
    statuses = {b.inner_text() for b in page.query_selector_all("table.results tbody .badge")}
    assert statuses == {"error"}
    groups = page.inner_text("table.groups")
    assert "InternalError: simulated failure" in groups and "timeout" in groups
    shot(page, "run-errors")
    page.click("button:has-text('Retry 4 failed')")
    page.wait_for_selector("dt:has-text('Retries')")
    wait_state(page, "completed")
    assert figure(page, "error") == 4 and run in page.inner_text(".facts")
    shot(page, "retry")


def test_cancel_a_long_run(stack, page):
    run = create(stack, command="Reset", data={"type": "Soft"}, max_per_second=1,
                 charger_ids=[charger_uuid(i) for i in SIMULATED[:14]])
    sign_in(page, stack)
    page.goto(f"{stack}/console#/runs/{run}")
    wait_state(page, "running")
    page.click("button:has-text('Cancel run')")
    # One click only asks; the question outlives the page's polls (every 2 s).
    page.wait_for_timeout(2500)
    assert page.query_selector("h1 .badge.running") is not None
    assert api(stack, "GET", f"/v3/chargers/commands/bulk/{run}?results=0")[1]["data"]["cancelled_at"] is None
    page.click("button:has-text('Confirm: cancel this run')")
    wait_state(page, "cancelled")
    shot(page, "run-cancelled")
    assert figure(page, "sent") < 14 and figure(page, "error") > 0 and figure(page, "pending") == 0
    page.click(".filters a:has-text('Error')")
    page.wait_for_selector("table.groups")
    assert "cancelled" in page.inner_text("table.groups")


def test_a_rollout_held_after_its_wave_is_resumed_and_its_outcomes_shown(stack, page):
    data = {"location": "https://firmware.example/sim-2.0.bin", "retrieveDate": "2026-01-01T00:00:00Z"}
    run = create(stack, command="UpdateFirmware", data=data, charger_ids=[charger_uuid(i) for i in SIMULATED[:4]],
                 outcome={"timeout_seconds": 60, "firmware_version": "sim-2.0"},
                 rollout={"waves": [2, "rest"], "pause_after_each_wave": True})
    sign_in(page, stack)
    page.goto(f"{stack}/console#/runs/{run}")
    wait_state(page, "paused")
    facts = page.inner_text("dl.facts")
    assert "wave 1 of 2 (2, 2)" in facts and "wave 1 finished; resume to open the next" in facts, facts
    assert "2 succeeded · 0 failed · 0 stalled · 0 open" in facts, facts
    shot(page, "rollout-held")
    page.click("button:has-text('Resume')")
    wait_state(page, "completed")
    facts = page.inner_text("dl.facts")
    assert "wave 2 of 2" in facts and "4 succeeded" in facts, facts
    page.wait_for_selector("table.results .badge.succeeded")
    assert len(page.query_selector_all("table.results .badge.succeeded")) == 4
    assert "Booted sim-2.0" in page.inner_text("table.results")
    shot(page, "rollout-completed")


def test_what_a_hostile_charger_says_stays_text(stack, page):
    reset = create(stack, command="Reset", data={"type": "Soft"}, charger_ids=[charger_uuid(HOSTILE)])
    transfer = create(stack, command="DataTransfer", data={"vendorId": "console"}, charger_ids=[charger_uuid(HOSTILE)])
    sign_in(page, stack)
    page.goto(f"{stack}/console#/runs/{reset}")
    wait_state(page, "completed")
    playwright_api.expect(page.locator("table.results td.message")).to_contain_text(PAYLOAD)
    assert PAYLOAD in page.inner_text("table.results")  # its reference too
    page.click("button:has-text('Group the messages')")
    playwright_api.expect(page.locator("table.groups")).to_contain_text(PAYLOAD)
    assert page.query_selector_all(PARSED) == []
    page.goto(f"{stack}/console#/runs/{transfer}")
    wait_state(page, "completed")
    page.click("table.results summary")
    assert json.dumps(PAYLOAD) in page.inner_text("table.results pre")
    shot(page, "hostile-response")
    page.goto(f"{stack}/console#/fleet?team=console")
    page.wait_for_selector("table.fleet")
    fleet = page.inner_text("table.fleet")
    assert PAYLOAD in fleet and VENDOR in fleet
    shot(page, "fleet")
    # Shown, never parsed: no element came of any of it.
    assert page.query_selector_all(PARSED) == []


def test_a_report_is_read_as_text(stack, page):
    run = create(stack, command="GetBaseReport", data={"requestId": 7, "reportBase": "FullInventory"},
                 charger_ids=[charger_uuid(HOSTILE201)])
    sign_in(page, stack)
    page.goto(f"{stack}/console#/runs/{run}")
    wait_state(page, "completed")
    page.click("button:has-text('Report: 1 part(s)')")
    playwright_api.expect(page.locator("pre.report-data")).to_contain_text(PAYLOAD.replace('"', '\\"'))
    assert "complete" in page.inner_text(".report")
    shot(page, "report")
    assert page.query_selector_all(PARSED) == []


def test_another_teams_run_is_not_found(stack, page):
    run = create(stack, command="ClearCache", data={}, charger_ids=[charger_uuid(SIMULATED[0])])
    sign_in(page, stack, OTHER_TOKEN)
    page.goto(f"{stack}/console#/runs/{run}")
    page.wait_for_selector("p.error")
    assert "Not found" in page.inner_text("p.error")
    assert page.query_selector("table.results tbody tr") is None
    shot(page, "not-found")


def test_the_fleet_view_filters_and_sends_to_what_it_shows(stack, page):
    sign_in(page, stack)
    page.goto(f"{stack}/console#/fleet")
    page.wait_for_selector("table.fleet")
    page.fill("#f-firmware", PAYLOAD)
    page.click(".filters-form button")
    playwright_api.expect(page.locator("table.fleet tbody tr")).to_have_count(1)
    assert "HOSTILE" in page.inner_text("table.fleet")
    page.click("a:has-text('Send a command to these')")
    page.wait_for_selector("#mode-target:checked")
    assert page.input_value("#target-firmware") == PAYLOAD
    page.wait_for_selector("#command option", state="attached")
    page.select_option("#command", "ClearCache")
    page.fill("#data", "{}")
    page.wait_for_selector("#verdict li.ok")
    page.click("#send")
    page.wait_for_selector("h1 .badge")
    run = page.inner_text("code.uuid")
    status, created = api(stack, "GET", f"/v3/chargers/commands/bulk/{run}")
    assert status == 200 and created["data"]["target"] == {"firmware": PAYLOAD}, created
    assert created["data"]["total_count"] == 1 and created["data"]["results"][0]["charger"]["identity"] == HOSTILE


def test_pages_carry_the_policy_and_a_run_page_is_light(stack, page):
    with urllib.request.urlopen(stack + "/console") as response:
        policy = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "script-src 'self'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # 30 results: every charger of the fleet, and 8 ids no charger has (skipped).
    unknown = [str(uuid.uuid4()) for _ in range(8)]
    run = create(stack, command="Reset", data={"type": "Soft"}, timeout_seconds=3,
                 charger_ids=[charger_uuid(i) for i in SIMULATED + [HOSTILE, HOSTILE201]] + unknown)
    for _ in range(100):
        if api(stack, "GET", f"/v3/chargers/commands/bulk/{run}?results=0")[1]["data"]["status"] == "completed":
            break
        time.sleep(0.1)
    responses = []
    page.on("response", lambda response: responses.append(response))

    def sizes(keep):
        # Read before the next navigation, which drops the bodies.
        taken = [(r, 0 if r.status == 304 else len(r.body())) for r in responses if keep in r.url]
        responses.clear()
        return taken

    sign_in(page, stack)
    static = sizes("/console")
    page.goto(f"{stack}/console#/runs/{run}")
    wait_state(page, "completed")
    page.wait_for_load_state("networkidle")
    api_calls = sizes("/v3/")
    page.reload()
    wait_state(page, "completed")
    page.wait_for_load_state("networkidle")
    static_bytes, api_bytes = sum(n for _, n in static), sum(n for _, n in api_calls)
    reloaded = [r for r in responses if "/console/" in r.url and "favicon" not in r.url]
    revalidated = sum(1 for r in reloaded if r.status == 304)
    with open(os.path.join(SHOTS, "weight.txt"), "w") as f:
        f.write(f"a run page of 25 results (a completed run of 30 chargers), first visit: {static_bytes + api_bytes} bytes of bodies received: "
                f"the console's files {static_bytes} ({len(static)} responses), the API {api_bytes} "
                f"({len(api_calls)} responses); on reload {revalidated} of the files were 304s\n")
        for r, n in static + api_calls:
            f.write(f"  {r.status} {n:>7} {re.sub(r'^https?://[^/]+', '', r.url)}\n")
    # The page reads the run without its results, and one page of them: never the run whole.
    urls = sorted(r.url.split("/v3/", 1)[1] for r, _ in api_calls)
    assert urls == [f"chargers/commands/bulk/{run}/results?per_page=25", f"chargers/commands/bulk/{run}?results=0"], urls
    # The next page: the 5 results left.
    page.click("button:has-text('Next')")
    playwright_api.expect(page.locator("table.results tbody tr")).to_have_count(5)
    assert "Page 2" in page.inner_text(".pager")
    # Unchanged files are revalidated, not sent again.
    assert reloaded and revalidated == len(reloaded), [(r.url, r.status) for r in reloaded]
