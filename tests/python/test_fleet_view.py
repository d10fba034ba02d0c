"""The fleet view and targeting by it, with chargers built on the Python `ocpp` package, on both
backends (the AWS one against moto's server behind the strict stand-in, which scripts/test.sh
starts and exports as AWS_ENDPOINT_URL).

The chargers boot as different models and firmware and report connector statuses; GET /v3/chargers
must show it and filter by it, and a run created with a `target` must reach exactly the chargers
the filter matches.
"""

import asyncio
import urllib.parse

import pytest
import websockets
from ocpp.v16 import call

import local_stack
from local_stack import serve
from test_ocpp_package_chargers import Charger, charger_uuid

TOKEN = "fleet-token-0123456789"
OTHER_TOKEN = "fleet-other-token-0123"
BOOTS = {
    "FV-OLD": ("ABB", "Terra AC", "1.8.1"),
    "FV-NEW": ("ABB", "Terra AC", "1.10.0"),
    "FV-DC": ("ABB", "Terra DC", "1.2"),
}
NEVER_SEEN = "FV-IDLE"


@pytest.fixture(scope="module", params=["embedded", "aws"])
def server(request):
    identities = list(BOOTS) + [NEVER_SEEN]
    fleet = {
        "tokens": [{"token": TOKEN, "user": "fleet", "teams": ["fleet"]},
                   {"token": OTHER_TOKEN, "user": "elsewhere", "teams": ["elsewhere"]}],
        "chargers": [{"uuid": charger_uuid(i), "identity": i, "reference": i, "team": "fleet"} for i in identities],
    }
    with serve(fleet, request.param) as stack:
        yield stack


def api(base, method, path, body=None, token=TOKEN):
    return local_stack.api(base, token, method, path, body)


def listed(base, token=TOKEN, **filters):
    status, body = api(base, "GET", "/v3/chargers?" + urllib.parse.urlencode(filters), token=token)
    assert status == 200, body
    return {c["identity"]: c for c in body["data"]}


async def boot(ws_base, identity):
    vendor, model, firmware = BOOTS[identity]
    ws = await websockets.connect(f"{ws_base}/{identity}", subprotocols=["ocpp1.6"])
    cp = Charger(identity, ws)
    task = asyncio.create_task(cp.start())
    answer = await cp.call(call.BootNotification(charge_point_vendor=vendor, charge_point_model=model,
                                                 firmware_version=firmware, charge_point_serial_number=f"SN-{identity}"))
    assert answer.status == "Accepted"
    return cp, ws, task


def test_chargers_are_listed_by_what_they_said_and_targeted_by_it(server):
    base, ws_base = server

    async def scenario():
        chargers = {identity: await boot(ws_base, identity) for identity in BOOTS}
        try:
            old = chargers["FV-OLD"][0]
            await old.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
            await old.call(call.Heartbeat())

            everyone = await asyncio.to_thread(listed, base)
            assert set(everyone) == set(BOOTS) | {NEVER_SEEN}
            state = everyone["FV-OLD"]
            assert (state["vendor"], state["model"], state["firmware"], state["serial"]) == \
                ("ABB", "Terra AC", "1.8.1", "SN-FV-OLD")
            assert state["connected"] is True and state["connected_since"] and state["last_seen"]
            assert [(c["connector_id"], c["status"]) for c in state["connectors"]] == [(1, "Charging")]
            idle = everyone[NEVER_SEEN]
            assert idle["connected"] is False and idle["model"] is None and idle["last_seen"] is None

            assert set(await asyncio.to_thread(listed, base, model="Terra AC")) == {"FV-OLD", "FV-NEW"}
            assert set(await asyncio.to_thread(listed, base, model="Terra AC", firmware_below="1.9")) == {"FV-OLD"}
            assert set(await asyncio.to_thread(listed, base, connected="true")) == set(BOOTS)
            assert set(await asyncio.to_thread(listed, base, firmware="1.2")) == {"FV-DC"}
            assert await asyncio.to_thread(listed, base, token=OTHER_TOKEN) == {}, "another team's chargers are not listed"

            # One page at a time, the filter kept in the links.
            status, page = api(base, "GET", "/v3/chargers?connected=true&per_page=2")
            assert status == 200 and len(page["data"]) == 2 and "connected=true" in page["links"]["next"], page
            status, rest = api(base, "GET", page["links"]["next"].split(base, 1)[-1])
            assert status == 200 and len(rest["data"]) == 1 and rest["meta"]["next_cursor"] is None, rest
            status, wrong = api(base, "GET", "/v3/chargers?connected=maybe")
            assert status == 422 and "connected" in wrong["errors"], wrong

            # A run by target reaches exactly what the filter matches.
            target = {"model": "Terra AC", "firmware_below": "1.9", "connected": True}
            status, body = api(base, "POST", "/v3/chargers/commands/bulk",
                               {"command": "Reset", "data": {"type": "Soft"}, "target": target})
            assert status == 202, body
            run = body["data"]
            assert run["total_count"] == 1 and run["target"] == target, run
            assert [r["charger"]["identity"] for r in run["results"]] == ["FV-OLD"]
            for _ in range(300):
                status, body = await asyncio.to_thread(api, base, "GET", f"/v3/chargers/commands/bulk/{run['uuid']}")
                if body["data"]["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
            assert body["data"]["sent_count"] == 1, body

            status, none = api(base, "POST", "/v3/chargers/commands/bulk",
                               {"command": "Reset", "data": {"type": "Soft"}, "target": {"model": "Nope"}})
            assert status == 422 and "target" in none["errors"], none
            status, both = api(base, "POST", "/v3/chargers/commands/bulk",
                               {"command": "Reset", "data": {"type": "Soft"}, "target": {},
                                "charger_ids": [charger_uuid("FV-OLD")]})
            assert status == 422 and "charger_ids" in both["errors"], both

            # A charger that goes is no longer connected, and says when it was last seen.
            cp, ws, task = chargers.pop("FV-DC")
            task.cancel()
            await ws.close()
            for _ in range(100):
                gone = (await asyncio.to_thread(listed, base, connected="false"))
                if "FV-DC" in gone:
                    break
                await asyncio.sleep(0.05)
            assert set(gone) == {"FV-DC", NEVER_SEEN}, gone
            assert gone["FV-DC"]["last_seen"] and gone["FV-DC"]["connected_since"] is None
        finally:
            for _, ws, task in chargers.values():
                task.cancel()
                await ws.close()

    asyncio.run(scenario())
