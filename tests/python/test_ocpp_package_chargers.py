"""Chargers built on the Python `ocpp` package against `ocpp-bulk serve`.

The package's ChargePoint checks every payload it receives against the official OCPP 1.6 JSON
schemas: a CALL from ocpp-bulk with an invalid payload would be answered with a CALLERROR, and an
invalid answer to the charger's own CALLs raises. So every command here must end `sent`.
"""

import asyncio
import base64
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

import local_stack
from local_stack import serve

TOKEN = "py-token-0123456789"
CHARGERS = ["PY001", "PY002", "PY003"]
LOCKED = ("PYLOCK", "py-lock-secret")


def charger_uuid(identity):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "py/" + identity))


@pytest.fixture(scope="module")
def server():
    fleet = {
        "tokens": [{"token": TOKEN, "user": "py", "teams": ["py"]}],
        "chargers": [{"uuid": charger_uuid(i), "identity": i, "reference": i, "team": "py"} for i in CHARGERS]
        + [{"uuid": charger_uuid(LOCKED[0]), "identity": LOCKED[0], "team": "py", "password": LOCKED[1]}],
    }
    with serve(fleet) as stack:
        yield stack


def api(base, method, path, body=None):
    return local_stack.api(base, TOKEN, method, path, body)


class Charger(ChargePoint):
    """Answers every command positively, as a well-behaved charger would."""

    @on(Action.reset)
    def reset(self, **_):
        return call_result.Reset(status="Accepted")

    @on(Action.change_configuration)
    def change_configuration(self, **_):
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.get_configuration)
    def get_configuration(self, **_):
        return call_result.GetConfiguration(configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}])

    @on(Action.trigger_message)
    def trigger_message(self, **_):
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.unlock_connector)
    def unlock_connector(self, **_):
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.set_charging_profile)
    def set_charging_profile(self, **_):
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.send_local_list)
    def send_local_list(self, **_):
        return call_result.SendLocalList(status="Accepted")

    @on(Action.reserve_now)
    def reserve_now(self, **_):
        return call_result.ReserveNow(status="Accepted")

    @on(Action.update_firmware)
    def update_firmware(self, **_):
        return call_result.UpdateFirmware()

    @on(Action.get_local_list_version)
    def get_local_list_version(self, **_):
        return call_result.GetLocalListVersion(list_version=3)

    # The security extension.
    @on(Action.signed_update_firmware)
    def signed_update_firmware(self, **_):
        return call_result.SignedUpdateFirmware(status="Accepted")

    @on(Action.install_certificate)
    def install_certificate(self, **_):
        return call_result.InstallCertificate(status="Accepted")

    @on(Action.certificate_signed)
    def certificate_signed(self, **_):
        return call_result.CertificateSigned(status="Accepted")

    @on(Action.delete_certificate)
    def delete_certificate(self, **_):
        return call_result.DeleteCertificate(status="Accepted")

    @on(Action.get_installed_certificate_ids)
    def get_installed_certificate_ids(self, **_):
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=[HASH])

    @on(Action.get_log)
    def get_log(self, **_):
        return call_result.GetLog(status="Accepted", filename="security.log")

    @on(Action.extended_trigger_message)
    def extended_trigger_message(self, **_):
        return call_result.ExtendedTriggerMessage(status="Accepted")

    # The jobs accepted firmware updates and log uploads start, reported to their end: the run
    # follows each to its outcome.
    @after(Action.update_firmware)
    async def install(self, **_):
        for status in ["Downloading", "Downloaded", "Installing", "Installed"]:
            await self.call(call.FirmwareStatusNotification(status=status))

    @after(Action.signed_update_firmware)
    async def install_signed(self, request_id, **_):
        for status in ["Downloading", "SignatureVerified", "Installing", "Installed"]:
            await self.call(call.SignedFirmwareStatusNotification(status=status, request_id=request_id))

    @after(Action.get_log)
    async def upload(self, request_id, **_):
        for status in ["Uploading", "Uploaded"]:
            await self.call(call.LogStatusNotification(status=status, request_id=request_id))


async def connect(ws_base, identity, password=None):
    headers = {}
    if password:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()
    ws = await websockets.connect(f"{ws_base}/{identity}", subprotocols=["ocpp1.6"], additional_headers=headers)
    assert ws.subprotocol == "ocpp1.6"
    cp = Charger(identity, ws)
    task = asyncio.create_task(cp.start())
    boot = await cp.call(call.BootNotification(charge_point_model="py", charge_point_vendor="ocpp"))
    assert boot.status == "Accepted" and boot.interval == 300
    return cp, ws, task


async def run_command(base, command, data):
    status, body = api(base, "POST", "/v3/chargers/commands/bulk",
                       {"command": command, "data": data, "charger_ids": [charger_uuid(i) for i in CHARGERS]})
    assert status == 202, body
    run_id = body["data"]["uuid"]
    for _ in range(200):
        status, body = await asyncio.to_thread(api, base, "GET", f"/v3/chargers/commands/bulk/{run_id}")
        if body["data"]["status"] == "completed":
            return body["data"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not complete: {body}")


NOW = datetime.now(timezone.utc)
PEM = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "a1b2", "issuerKeyHash": "c3d4", "serialNumber": "0f"}
COMMANDS = [
    ("Reset", {"type": "Soft"}, "Accepted"),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, "Accepted"),
    ("GetConfiguration", {"key": ["HeartbeatInterval"]}, None),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, "Accepted"),
    ("UnlockConnector", {"connectorId": 1}, "Unlocked"),
    ("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
        "chargingSchedule": {"duration": 86400, "chargingRateUnit": "A",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                                                        {"startPeriod": 3600, "limit": 8.0}]}}}, "Accepted"),
    ("SendLocalList", {"listVersion": 4, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "TAG1", "idTagInfo": {"status": "Accepted", "expiryDate": (NOW + timedelta(days=30)).isoformat()}}]}, "Accepted"),
    ("ReserveNow", {"connectorId": 1, "expiryDate": (NOW + timedelta(hours=1)).isoformat(), "idTag": "TAG1", "reservationId": 9}, "Accepted"),
    ("UpdateFirmware", {"location": "https://firmware.example/v2.bin", "retrieveDate": NOW.isoformat(), "retries": 2}, None),
    ("GetLocalListVersion", {}, None),
    ("SignedUpdateFirmware", {"requestId": 42, "retries": 3, "firmware": {
        "location": "https://firmware.example/v2.bin", "retrieveDateTime": NOW.isoformat(),
        "signingCertificate": PEM, "signature": "c2lnbmF0dXJl"}}, "Accepted"),
    ("InstallCertificate", {"certificateType": "CentralSystemRootCertificate", "certificate": PEM}, "Accepted"),
    ("CertificateSigned", {"certificateChain": PEM}, "Accepted"),
    ("DeleteCertificate", {"certificateHashData": HASH}, "Accepted"),
    ("GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}, "Accepted"),
    ("GetLog", {"logType": "SecurityLog", "requestId": 7, "log": {"remoteLocation": "https://logs.example/up"}}, "Accepted"),
    ("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, "Accepted"),
]


def test_every_call_passes_the_official_schemas(server):
    base, ws_base = server

    async def scenario():
        chargers = [await connect(ws_base, identity) for identity in CHARGERS]
        try:
            for command, data, message in COMMANDS:
                run = await run_command(base, command, data)
                assert run["sent_count"] == len(CHARGERS), (command, run)
                for result in run["results"]:
                    assert result["message"] == message, (command, result)
                if "outcome" in run:
                    # Complete only once every job ended, followed through the notifications above.
                    assert run["outcome"]["succeeded_count"] == len(CHARGERS), (command, run)
            run = await run_command(base, "GetConfiguration", {})
            assert run["results"][0]["response"]["configurationKey"][0]["key"] == "HeartbeatInterval"
        finally:
            for _, ws, task in chargers:
                task.cancel()
                await ws.close()

    asyncio.run(scenario())


def test_answers_to_charger_calls_pass_the_official_schemas(server):
    _, ws_base = server

    async def scenario():
        cp, ws, task = await connect(ws_base, LOCKED[0], LOCKED[1])
        try:
            beat = await cp.call(call.Heartbeat())
            assert datetime.fromisoformat(beat.current_time.replace("Z", "+00:00"))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            await cp.call(call.MeterValues(connector_id=1, meter_value=[
                {"timestamp": NOW.isoformat(), "sampledValue": [{"value": "12.5", "measurand": "Energy.Active.Import.Register"}]}]))
            await cp.call(call.FirmwareStatusNotification(status="Installed"))
            await cp.call(call.DiagnosticsStatusNotification(status="Idle"))
            transfer = await cp.call(call.DataTransfer(vendor_id="acme", message_id="x", data="y"))
            assert transfer.status == "UnknownVendorId"
            await cp.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=NOW.isoformat(), tech_info="v2"))
            await cp.call(call.LogStatusNotification(status="Uploaded", request_id=7))
            await cp.call(call.SignedFirmwareStatusNotification(status="SignatureVerified", request_id=42))
            signed = await cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"))
            assert signed.status == "Rejected"  # ocpp-bulk is no certificate authority
            refused = await cp.call(call.Authorize(id_tag="TAG1"), suppress=True)
            assert refused is None  # a CALLERROR (NotSupported), which the package reports as None
        finally:
            task.cancel()
            await ws.close()

    asyncio.run(scenario())


def test_wrong_password_is_refused(server):
    _, ws_base = server

    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await connect(ws_base, LOCKED[0], "not-the-password")
        assert refused.value.response.status_code == 401

    asyncio.run(scenario())
