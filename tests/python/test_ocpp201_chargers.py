"""OCPP 2.0.1 chargers built on the Python `ocpp` package against `ocpp-bulk serve`, on both backends
(the AWS one needs moto's server, which scripts/test.sh starts).

The package's ChargePoint checks every payload against OCA's OCPP 2.0.1 JSON schemas, both ways: an
invalid CALL from ocpp-bulk would be answered with a CALLERROR, and an invalid answer to a charger's
own CALL raises. The tests cover subprotocol negotiation, the fleet view, answers to chargers' CALLs,
every 2.0.1 command (the table is checked against the schema files), a multi-part NotifyReport, and
one run that holds 1.6 and 2.0.1 chargers.
"""

import asyncio
import collections
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
import websockets
from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

import local_stack
import test_ocpp_package_chargers as chargers16
from local_stack import serve
from test_ocpp_package_chargers import charger_uuid

TOKEN = "v201-token-0123456789"
COMMANDED = ["V201A", "V201B"]  # every 2.0.1 command
CALLER = "V201C"                # the charger's own CALLs
REPORTER = "V201R"              # the multi-part report
MIXED = ["V16M", "V201M"]  # a 1.6 and a 2.0.1 charger in one run
OFFERS = {"V201N": ["ocpp2.0.1", "ocpp1.6"], "V16N": ["ocpp1.6", "ocpp2.0.1"]}
REFUSED = "V201X"               # offers no version ocpp-bulk speaks
IDLE = "V201IDLE"               # never connects
IDENTITIES = COMMANDED + [CALLER, REPORTER, *MIXED, *OFFERS, REFUSED, IDLE]
BY_UUID = {charger_uuid(i): i for i in IDENTITIES}

NOW = datetime.now(timezone.utc).isoformat()
LATER = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
PEM = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1b2", "issuerKeyHash": "c3d4", "serialNumber": "0f"}
MD5 = "0123456789abcdef0123456789abcdef"
TAG = {"idToken": "TAG1", "type": "ISO14443"}
HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
MONITOR = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
           "type": "UpperThreshold", "severity": 5}
PERIOD = {"startPeriod": 0, "limit": 11000.0}
SCHEDULE = {"id": 1, "chargingRateUnit": "W", "startSchedule": NOW, "chargingSchedulePeriod": [PERIOD]}
REPORT = [  # the parts of a NotifyReport, in seqNo order
    [{**HEARTBEAT, "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}]},
     {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
      "variableAttribute": [{"value": "1", "mutability": "ReadOnly"}]}],
    [{"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"},
      "variableAttribute": [{"value": "Available"}]}],
]
# Every command a CSMS sends in OCPP 2.0.1 (by name, as in the catalogue), as
# (command, data, the result's expected message[, the answer's fields besides status]).
# The expected message is the status the charger answers with, None when the answer has no status.
# Charger201 answers each with that status and those fields (snake_case, as the package's call_result
# takes them), except the commands it has a handler of its own for.
COMMANDS = [
    ("CancelReservation", {"reservationId": 41}, "Accepted"),
    ("CertificateSigned", {"certificateChain": PEM}, "Accepted"),
    ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}, "Accepted"),
    ("ClearCache", {}, "Accepted"),
    ("ClearChargingProfile", {"chargingProfileId": 51}, "Accepted"),
    ("ClearDisplayMessage", {"id": 61}, "Accepted"),
    ("ClearVariableMonitoring", {"id": [71]}, None, {"clear_monitoring_result": [{"id": 71, "status": "Accepted"}]}),
    ("CostUpdated", {"totalCost": 3.25, "transactionId": "tx-1"}, None, {}),
    ("CustomerInformation", {"requestId": 14, "report": True, "clear": False, "customerIdentifier": "cust-1"},
     "Accepted"),
    ("DataTransfer", {"vendorId": "acme", "messageId": "ping", "data": {"n": 1}}, "Accepted", {"data": {"n": 2}}),
    ("DeleteCertificate", {"certificateHashData": HASH}, "Accepted"),
    ("GetBaseReport", {"requestId": 11, "reportBase": "FullInventory"}, "Accepted"),
    ("GetChargingProfiles", {"requestId": 15, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
     "Accepted"),
    ("GetCompositeSchedule", {"duration": 3600, "evseId": 1, "chargingRateUnit": "W"}, "Accepted", {"schedule": {
        "evseId": 1, "duration": 3600, "scheduleStart": NOW, "chargingRateUnit": "W", "chargingSchedulePeriod": [PERIOD]}}),
    ("GetDisplayMessages", {"requestId": 16}, "Accepted"),
    ("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]}, "Accepted"),
    ("GetLocalListVersion", {}, None, {"version_number": 3}),
    ("GetLog", {"logType": "DiagnosticsLog", "requestId": 13, "log": {"remoteLocation": "https://logs.example/up"}},
     "Accepted", {"filename": "diagnostics.log"}),
    ("GetMonitoringReport", {"requestId": 17, "monitoringCriteria": ["ThresholdMonitoring"]}, "Accepted"),
    ("GetReport", {"requestId": 18, "componentCriteria": ["Available"]}, "Accepted"),
    ("GetTransactionStatus", {"transactionId": "tx-1"}, None, {"messages_in_queue": False, "ongoing_indicator": True}),
    ("GetVariables", {"getVariableData": [HEARTBEAT]}, None),
    ("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": PEM}, "Accepted"),
    ("PublishFirmware", {"location": "https://firmware.example/v2.bin", "checksum": MD5, "requestId": 19}, "Accepted"),
    ("RequestStartTransaction", {"idToken": TAG, "remoteStartId": 21}, "Accepted", {"transaction_id": "tx-1"}),
    ("RequestStopTransaction", {"transactionId": "tx-1"}, "Accepted"),
    ("ReserveNow", {"id": 41, "expiryDateTime": LATER, "idToken": TAG, "evseId": 1}, "Accepted"),
    ("Reset", {"type": "Immediate"}, "Accepted"),
    ("SendLocalList", {"versionNumber": 3, "updateType": "Full",
                       "localAuthorizationList": [{"idToken": TAG, "idTokenInfo": {"status": "Accepted"}}]}, "Accepted"),
    ("SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 51, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
        "chargingSchedule": [SCHEDULE]}}, "Accepted"),
    ("SetDisplayMessage", {"message": {"id": 61, "priority": "NormalCycle",
                                       "message": {"format": "UTF8", "content": "Welcome"}}}, "Accepted"),
    ("SetMonitoringBase", {"monitoringBase": "All"}, "Accepted"),
    ("SetMonitoringLevel", {"severity": 5}, "Accepted"),
    ("SetNetworkProfile", {"configurationSlot": 1, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}}, "Accepted"),
    ("SetVariableMonitoring", {"setMonitoringData": [{**MONITOR, "value": 22000}]}, None,
     {"set_monitoring_result": [{**MONITOR, "id": 81, "status": "Accepted"}]}),
    ("SetVariables", {"setVariableData": [{**HEARTBEAT, "attributeValue": "120"}]}, None),
    ("TriggerMessage", {"requestedMessage": "StatusNotification"}, "Accepted"),
    ("UnlockConnector", {"evseId": 1, "connectorId": 1}, "Unlocked"),
    ("UnpublishFirmware", {"checksum": MD5}, "Unpublished"),
    ("UpdateFirmware", {"requestId": 12, "firmware": {"location": "https://firmware.example/v2.bin",
                                                     "retrieveDateTime": NOW}}, "Accepted"),
]
# What only a charging station sends (OCPP 2.0.1 Part 2); every other action with a request schema
# is a command (DataTransfer goes both ways).
CHARGER_CALLS = {
    "Authorize", "BootNotification", "ClearedChargingLimit", "FirmwareStatusNotification", "Get15118EVCertificate",
    "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues", "NotifyChargingLimit",
    "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds", "NotifyEVChargingSchedule",
    "NotifyEvent", "NotifyMonitoringReport", "NotifyReport", "PublishFirmwareStatusNotification",
    "ReportChargingProfiles", "ReservationStatusUpdate", "SecurityEventNotification", "SignCertificate",
    "StatusNotification", "TransactionEvent",
}
SCHEMAS = os.path.join(local_stack.ROOT, "shared", "schemas", "v201")


@pytest.fixture(scope="module", params=["embedded", "aws"])
def server(request):
    fleet = {
        "tokens": [{"token": TOKEN, "user": "v201", "teams": ["v201"]}],
        "chargers": [{"uuid": charger_uuid(i), "identity": i, "reference": i, "team": "v201"} for i in IDENTITIES],
    }
    with serve(fleet, request.param) as stack:
        yield stack


def api(base, method, path, body=None):
    return local_stack.api(base, TOKEN, method, path, body)


def listed(base):
    status, body = api(base, "GET", "/v3/chargers?per_page=100")
    assert status == 200, body
    return {c["identity"]: c for c in body["data"]}


def versions(base, identities):
    return {i: s["ocpp_version"] for i, s in listed(base).items() if i in identities}


def by_identity(results):
    return {BY_UUID[r["charger_uuid"]]: r for r in results}


async def until(probe, what, done=bool, timeout=10.0):
    """The first value of `probe` (a blocking function) that is `done`, polled for at most `timeout` s."""
    for _ in range(int(timeout / 0.05)):
        value = await asyncio.to_thread(probe)
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {value!r}")


async def run(base, command, data, identities, **extra):
    """The completed run of `command` with `data` to `identities` (and `extra` fields of the POST)."""
    status, body = await asyncio.to_thread(api, base, "POST", "/v3/chargers/commands/bulk", {
        "command": command, "data": data, "charger_ids": [charger_uuid(i) for i in identities], **extra})
    assert status == 202, (command, body)
    path = f"/v3/chargers/commands/bulk/{body['data']['uuid']}"
    return await until(lambda: api(base, "GET", path)[1]["data"], f"the run of {command} to complete",
                       done=lambda r: r["status"] == "completed")


def answering(action, module=call_result, **payload):
    """A handler answering `action` with `payload` (named after the action: the package's route map
    finds handlers by name)."""
    def handler(self, **_):
        return getattr(module, action.value)(**payload)
    handler.__name__ = action.name
    return on(action)(handler)


def reporting(action):
    """A hook sending, once `action` is answered, the report it asked for in NotifyReport parts (named
    for the route map, as `answering`'s handlers are)."""
    async def hook(self, request_id, **_):
        for seq_no in range(len(REPORT)):
            await self.call(report_part(request_id, seq_no))
        self.reports_sent.append(request_id)
    hook.__name__ = f"report_after_{action.name}"
    return after(action)(hook)


def answering_commands(charger_class):
    """Gives `charger_class` a handler for each command of COMMANDS it has none for, answering with
    the row's status and other fields."""
    for command, _, status, *fields in COMMANDS:
        action = Action(command)
        if action.name not in vars(charger_class):
            payload = ({"status": status} if status else {}) | (fields[0] if fields else {})
            setattr(charger_class, action.name, answering(action, **payload))
    return charger_class


class Counting:
    """Counts the CALLs it receives, by action, and can hang up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = collections.Counter()

    async def route_message(self, raw_msg):
        message = json.loads(raw_msg)
        if message[0] == 2:
            self.received[message[2]] += 1
        await super().route_message(raw_msg)

    async def hang_up(self):
        self.task.cancel()
        await self._connection.close()


@answering_commands
class Charger201(Counting, ChargePoint):
    """An OCPP 2.0.1 charger that answers every command positively, and each report request with
    its report."""
    OFFER = ["ocpp2.0.1", "ocpp1.6"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reports_sent = []

    def boot(self):
        return call.BootNotification(reason="PowerUp", charging_station={
            "vendorName": "ocpp", "model": "py201", "firmwareVersion": "2.0.1-py", "serialNumber": f"SN-{self.id}"})

    @on(Action.set_variables)
    def set_variables(self, set_variable_data, **_):
        return call_result.SetVariables(set_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data])

    @on(Action.get_variables)
    def get_variables(self, get_variable_data, **_):
        return call_result.GetVariables(get_variable_result=[
            {"attribute_status": "Accepted", "attribute_value": "300", "component": d["component"], "variable": d["variable"]}
            for d in get_variable_data])

    report_after_get_base_report = reporting(Action.get_base_report)
    report_after_get_report = reporting(Action.get_report)

    # The job an accepted UpdateFirmware or GetLog starts, reported to its end: the run follows it.
    @after(Action.update_firmware)
    async def install(self, request_id, **_):
        for status in ["Downloading", "Downloaded", "Installing", "Installed"]:
            await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id))

    @after(Action.get_log)
    async def upload(self, request_id, **_):
        for status in ["Uploading", "Uploaded"]:
            await self.call(call.LogStatusNotification(status=status, request_id=request_id))


class Charger16(Counting, chargers16.Charger):
    """An OCPP 1.6 charger that answers every command positively."""
    OFFER = ["ocpp1.6", "ocpp2.0.1"]
    clear_cache = answering(Action16.clear_cache, call_result16, status="Accepted")

    def boot(self):
        return call16.BootNotification(charge_point_model="py16", charge_point_vendor="ocpp")


def report_part(request_id, seq_no):
    return call.NotifyReport(request_id=request_id, generated_at=NOW, seq_no=seq_no,
                             report_data=REPORT[seq_no], tbc=seq_no < len(REPORT) - 1)


async def connect(ws_base, identity, charger_class=Charger201):
    """A booted charger of `charger_class` (which offers its own version first)."""
    ws = await websockets.connect(f"{ws_base}/{identity}", subprotocols=charger_class.OFFER)
    assert ws.subprotocol == charger_class.OFFER[0]
    cp = charger_class(identity, ws)
    cp.task = asyncio.create_task(cp.start())
    boot = await cp.call(cp.boot())
    assert boot.status == "Accepted" and boot.interval == 300, boot
    return cp


def scenario(test):
    """Runs the coroutine function `test(base, ws_base)` against the server."""
    def sync(server):
        asyncio.run(test(*server))
    sync.__name__, sync.__doc__ = test.__name__, test.__doc__
    return sync


@scenario
async def test_the_first_offered_version_ocpp_bulk_speaks_is_chosen(base, ws_base):
    idle = (await asyncio.to_thread(listed, base))[IDLE]
    assert "ocpp_version" in idle and idle["ocpp_version"] is None, idle
    sockets = {i: await websockets.connect(f"{ws_base}/{i}", subprotocols=offer) for i, offer in OFFERS.items()}
    try:
        for identity, offer in OFFERS.items():
            assert sockets[identity].subprotocol == offer[0], identity
        await until(lambda: versions(base, OFFERS), "ocpp_version", done=lambda v: v == {i: o[0] for i, o in OFFERS.items()})

        # The version of the latest connection counts.
        await sockets["V16N"].close()
        sockets["V16N"] = await websockets.connect(f"{ws_base}/V16N", subprotocols=["ocpp2.0.1"])
        assert sockets["V16N"].subprotocol == "ocpp2.0.1"
        await until(lambda: versions(base, ["V16N"]), "the new ocpp_version", done=lambda v: v == {"V16N": "ocpp2.0.1"})

        try:
            refused = await websockets.connect(f"{ws_base}/{REFUSED}", subprotocols=["ocpp2.0", "ocpp1.5"])
        except websockets.exceptions.InvalidStatus as e:
            assert e.response.status_code == 400
        else:
            assert refused.subprotocol is None
            await refused.close()
    finally:
        for ws in sockets.values():
            await ws.close()


@scenario
async def test_charger_calls_are_answered_within_the_official_schemas(base, ws_base):
    cp = await connect(ws_base, CALLER)
    try:
        beat = await cp.call(call.Heartbeat())
        assert datetime.fromisoformat(beat.current_time.replace("Z", "+00:00"))
        await cp.call(call.StatusNotification(timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1))
        await cp.call(call.NotifyEvent(generated_at=NOW, seq_no=0, event_data=[{
            "eventId": 1, "timestamp": NOW, "trigger": "Delta", "actualValue": "Occupied",
            "eventNotificationType": "HardWiredNotification", "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
            "variable": {"name": "AvailabilityState"}}]))
        await cp.call(call.FirmwareStatusNotification(status="Installed", request_id=12))
        await cp.call(report_part(99, 0))
        await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=NOW, tech_info="v2"))
        await cp.call(call.LogStatusNotification(status="Uploaded", request_id=13))
        await cp.call(call.MeterValues(evse_id=1, meter_value=[
            {"timestamp": NOW, "sampledValue": [{"value": 12.5, "measurand": "Energy.Active.Import.Register"}]}]))
        # The other notifications a 2.0.1 charger sends, each answered {} within its response schema.
        for notification in (
            call.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=NOW),
            call.NotifyCustomerInformation(data="none", seq_no=0, generated_at=NOW, request_id=14),
            call.NotifyDisplayMessages(request_id=2),
            call.NotifyChargingLimit(charging_limit={"chargingLimitSource": "EMS"}),
            call.ClearedChargingLimit(charging_limit_source="EMS"),
            call.PublishFirmwareStatusNotification(status="Idle"),
            call.ReservationStatusUpdate(reservation_id=3, reservation_update_status="Expired"),
        ):
            await cp.call(notification)
        assert (await cp.call(call.DataTransfer(vendor_id="acme", message_id="x", data="y"))).status == "UnknownVendorId"
        assert (await cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"))).status == "Rejected"
        # A CALLERROR NotSupported, which the package raises as NotSupportedError when not told to suppress it.
        with pytest.raises(NotSupportedError):
            await cp.call(call.Authorize(id_token={"idToken": "TAG1", "type": "ISO14443"}), suppress=False)
        with pytest.raises(NotSupportedError):
            await cp.call(call.TransactionEvent(event_type="Started", timestamp=NOW, trigger_reason="Authorized",
                                                seq_no=0, transaction_info={"transactionId": "tx-1"}), suppress=False)

        state = (await asyncio.to_thread(listed, base))[CALLER]
        assert (state["vendor"], state["model"], state["firmware"], state["serial"]) == ("ocpp", "py201", "2.0.1-py", f"SN-{CALLER}")
        assert state["ocpp_version"] == "ocpp2.0.1" and state["connected"] is True, state
        assert "Occupied" in json.dumps(state["connectors"]), state
    finally:
        await cp.hang_up()


def test_the_commands_are_every_request_a_csms_sends():
    requests = {name.removesuffix("Request.json") for name in os.listdir(SCHEMAS) if name.endswith("Request.json")}
    assert CHARGER_CALLS < requests, CHARGER_CALLS - requests
    assert sorted(command for command, *_ in COMMANDS) == sorted(requests - CHARGER_CALLS)
    assert len(COMMANDS) == 40


@scenario
async def test_every_command_reaches_v201_chargers(base, ws_base):
    cps = [await connect(ws_base, identity) for identity in COMMANDED]
    try:
        for command, data, message, *_ in COMMANDS:
            done = await run(base, command, data, COMMANDED)
            assert done["sent_count"] == len(COMMANDED), (command, done)
            for result in done["results"]:
                assert result["status"] == "sent" and result["message"] == message, (command, result)
            assert [cp.received[command] for cp in cps] == [1] * len(cps), command
            if command in ("UpdateFirmware", "GetLog"):
                # Complete only once each job ended: followed through the charger's notifications.
                assert done["outcome"]["succeeded_count"] == len(COMMANDED), (command, done)
                final = "Installed" if command == "UpdateFirmware" else "Uploaded"
                assert all(r["outcome"]["status"] == final for r in done["results"]), (command, done)
            if command == "GetVariables":
                answer = done["results"][0]["response"]["getVariableResult"][0]
                assert answer["attributeStatus"] == "Accepted" and answer["attributeValue"] == "300", answer
    finally:
        for cp in cps:
            await cp.hang_up()


@scenario
async def test_a_multi_part_report_is_gathered_on_the_result(base, ws_base):
    cp = await connect(ws_base, REPORTER)
    try:
        done = await run(base, "GetBaseReport", {"requestId": 31, "reportBase": "FullInventory"}, [REPORTER])
        assert done["sent_count"] == 1 and cp.received["GetBaseReport"] == 1, done
        await until(lambda: cp.reports_sent, "the charger to send its report", done=lambda sent: 31 in sent)
        path = f"/v3/chargers/commands/bulk/{done['uuid']}/results"
        summary = {"request_id": 31, "parts": 2, "complete": True}

        def report():
            """The result's summary of its report, and the report whole from where it says."""
            result = by_identity(api(base, "GET", path)[1]["data"])[REPORTER]
            shown = result.get("report") or {}
            if not shown.get("complete"):
                return None
            status, whole = api(base, "GET", f"/v3/chargers/commands/bulk/{done['uuid']}/reports/{shown['position']}")
            assert status == 200, whole
            return {k: shown[k] for k in summary}, whole["data"]

        expected = (summary, {**summary, "data": REPORT[0] + REPORT[1], "position": 0})
        await until(report, "the complete report", done=lambda r: r == expected, timeout=5)
        # A position past the run, or not a position at all: 404.
        for position in ("1", "x", "-1"):
            assert api(base, "GET", f"/v3/chargers/commands/bulk/{done['uuid']}/reports/{position}")[0] == 404
        await cp.call(report_part(31, 1))  # the same part again
        assert await asyncio.to_thread(report) == expected
    finally:
        await cp.hang_up()


@scenario
async def test_a_run_sends_each_charger_only_what_its_version_accepts(base, ws_base):
    cp16, cp201 = await connect(ws_base, "V16M", Charger16), await connect(ws_base, "V201M")
    try:
        status, body = await asyncio.to_thread(api, base, "POST", "/v3/chargers/commands/bulk", {
            "command": "Reset", "data": {"type": "Sideways"}, "charger_ids": [charger_uuid(i) for i in MIXED]})
        assert status == 422, body  # valid for neither version

        reset = await run(base, "Reset", {"type": "Soft"}, MIXED)  # OCPP 1.6 only
        results = by_identity(reset["results"])
        assert (reset["sent_count"], reset["error_count"]) == (1, 1), reset
        assert (results["V16M"]["status"], results["V16M"]["message"]) == ("sent", "Accepted"), results
        assert results["V201M"]["status"] == "error" and "OCPP 2.0.1" in (results["V201M"]["message"] or ""), results
        assert (cp16.received["Reset"], cp201.received["Reset"]) == (1, 0)

        clear = await run(base, "ClearCache", {}, MIXED)  # both versions
        assert (clear["sent_count"], clear["error_count"]) == (2, 0), clear
        assert (cp16.received["ClearCache"], cp201.received["ClearCache"]) == (1, 1)

        get = await run(base, "GetVariables", {"getVariableData": [HEARTBEAT]}, MIXED)  # OCPP 2.0.1 only
        results = by_identity(get["results"])
        assert (get["sent_count"], get["error_count"]) == (1, 1), get
        assert results["V201M"]["status"] == "sent", results
        assert results["V16M"]["status"] == "error" and "OCPP 1.6" in (results["V16M"]["message"] or ""), results
        assert (cp16.received["GetVariables"], cp201.received["GetVariables"]) == (0, 1)

        # One run for both: 1.6 chargers get ChangeConfiguration, 2.0.1 ones SetVariables instead.
        instead = {"ocpp2.0.1": {"command": "SetVariables", "data": {"setVariableData": [{**HEARTBEAT, "attributeValue": "120"}]}}}
        both = await run(base, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, MIXED, versions=instead)
        assert (both["sent_count"], both["error_count"], both["versions"]) == (2, 0, instead), both
        assert (cp16.received["ChangeConfiguration"], cp201.received["SetVariables"]) == (1, 1)
        assert cp201.received["ChangeConfiguration"] == 0 and cp16.received["SetVariables"] == 0
        status, body = await asyncio.to_thread(api, base, "POST", "/v3/chargers/commands/bulk", {
            "command": "Reset", "data": {"type": "Soft"}, "charger_ids": [charger_uuid(MIXED[0])],
            "versions": {"ocpp2.0.1": {"command": "ChangeConfiguration", "data": {}}}})
        assert status == 422 and "versions.ocpp2.0.1.command" in body["errors"], body
    finally:
        await cp16.hang_up()
        await cp201.hang_up()
