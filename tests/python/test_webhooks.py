"""Run webhooks against a real receiver that checks every signature, on both backends (the AWS one
against moto's server behind the strict stand-in, which scripts/test.sh starts).

The receiver is a plain HTTP server written here from the documented scheme alone (header
`OcppBulk-Signature: t=…,v1=hex(HMAC-SHA256(secret, "{t}.{body}"))`): it refuses a bad signature
with 400 and fails its first completion delivery with 503 on purpose, so the retry is seen too.
The chargers are built on the Python `ocpp` package.
"""

import asyncio
import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest
import websockets
from ocpp.v16 import call

import local_stack
from local_stack import serve
from test_ocpp_package_chargers import Charger, charger_uuid

TOKEN = "hook-token-0123456789"
CHARGERS = ["HK001", "HK002"]


class Receiver(http.server.ThreadingHTTPServer):
    """Keeps every event it accepts; answers 503 to the first `failures` completion events."""

    def __init__(self, failures):
        super().__init__(("127.0.0.1", 0), Handler)
        self.secret = None
        self.failures = failures
        self.accepted = []
        self.refused = []
        self.lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        server = self.server
        header = self.headers.get("OcppBulk-Signature", "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(server.secret.encode(), f"{parts.get('t')}.{body}".encode(), hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(parts.get("t", "0"))) < 300
        with server.lock:
            if not (fresh and hmac.compare_digest(expected, parts.get("v1", ""))):
                server.refused.append(body)
                status = 400
            else:
                event = json.loads(body)
                assert self.headers.get("OcppBulk-Event-Id") == event["id"]
                if event["type"] == "run.completed" and server.failures > 0:
                    server.failures -= 1
                    status = 503
                else:
                    server.accepted.append(event)
                    status = 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


@pytest.fixture(scope="module", params=["embedded", "aws"])
def stack(request):
    fleet = {"tokens": [{"token": TOKEN, "user": "hooks", "teams": ["hooks"]}],
             "chargers": [{"uuid": charger_uuid(i), "identity": i, "team": "hooks"} for i in CHARGERS]}
    with serve(fleet, request.param, ["--allow-private-webhooks", "--webhook-first-retry-seconds", "1"]) as running:
        yield running


def api(base, method, path, body=None):
    return local_stack.api(base, TOKEN, method, path, body)


def test_completion_is_signed_retried_and_recorded(stack):
    base, ws_base = stack
    receiver = Receiver(failures=1)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"

    async def scenario():
        socks = []
        for identity in CHARGERS:
            ws = await websockets.connect(f"{ws_base}/{identity}", subprotocols=["ocpp1.6"])
            cp = Charger(identity, ws)
            socks.append((ws, asyncio.create_task(cp.start())))
            await cp.call(call.BootNotification(charge_point_model="py", charge_point_vendor="ocpp"))
        try:
            body = {"command": "Reset", "data": {"type": "Soft"},
                    "charger_ids": [charger_uuid(i) for i in CHARGERS] + ["not-a-uuid"],
                    "callback_url": hook_url, "callback_progress": True}
            status, refused = api(base, "POST", "/v3/chargers/commands/bulk", body)
            assert status == 422 and "callback_url" in refused["errors"], refused  # no secret yet

            status, created = api(base, "POST", "/v3/webhooks/secret")
            assert status == 201 and created["data"]["secret"].startswith("whsec_"), created
            receiver.secret = created["data"]["secret"]

            status, run = api(base, "POST", "/v3/chargers/commands/bulk", body)
            assert status == 202, run
            run_id = run["data"]["uuid"]
            assert run["data"]["webhook"]["state"] == "pending"
            for _ in range(600):
                status, now = await asyncio.to_thread(api, base, "GET", f"/v3/chargers/commands/bulk/{run_id}")
                if now["data"]["webhook"]["state"] != "pending":
                    break
                await asyncio.sleep(0.05)
            hook = now["data"]["webhook"]
            assert hook["state"] == "delivered" and hook["attempts"] == 2 and hook["last_status"] == 200, hook
            assert hook["delivered_at"] and hook["last_error"] is None
        finally:
            for ws, task in socks:
                task.cancel()
                await ws.close()
        return run_id

    run_id = asyncio.run(scenario())
    assert receiver.refused == [], "every signature checked out"
    completed = [e for e in receiver.accepted if e["type"] == "run.completed"]
    assert len(completed) == 1, receiver.accepted
    event = completed[0]
    assert event["id"] == f"{run_id}.completed" and event["data"]["uuid"] == run_id
    assert event["data"]["status"] == "completed" and event["data"]["sent_count"] == 2
    assert event["data"]["skipped_count"] == 1
    progress = [e["id"] for e in receiver.accepted if e["type"] == "run.progress"]
    assert len(progress) == len(set(progress)), "each tenth at most once"
    receiver.shutdown()


def test_a_rotated_secret_signs_and_the_old_one_does_not(stack):
    base, _ = stack
    _, first = api(base, "POST", "/v3/webhooks/secret")
    _, second = api(base, "POST", "/v3/webhooks/secret")
    assert first["data"]["secret"] != second["data"]["secret"]
    assert second["data"]["version"] == first["data"]["version"] + 1
    receiver = Receiver(failures=0)
    receiver.secret = first["data"]["secret"]  # the old one: every delivery must be refused
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    body = {"command": "Reset", "data": {"type": "Soft"}, "charger_ids": ["not-a-uuid"],
            "callback_url": f"http://127.0.0.1:{receiver.server_address[1]}/"}
    status, run = api(base, "POST", "/v3/chargers/commands/bulk", body)
    assert status == 202, run
    for _ in range(200):
        if receiver.refused:
            break
        time.sleep(0.05)
    assert receiver.refused and not receiver.accepted
    _, now = api(base, "GET", f"/v3/chargers/commands/bulk/{run['data']['uuid']}")
    assert now["data"]["webhook"]["last_status"] in (None, 400), now
    receiver.shutdown()
