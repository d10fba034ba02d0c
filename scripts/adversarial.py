"""Replays the attacks of issue 9 against a local `ocpp-bulk serve` on loopback and prints a table:
attack → what the server did. Bounded: every attack is a fixed, small amount of traffic to 127.0.0.1.

usage: scripts/adversarial.sh   (builds the binary, runs this with the test venv's Python)
env:   OCPP_BULK_BIN (the ocpp-bulk binary), ADVERSARIAL_IDLE (idle TCP connections, default 2000)
"""

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
BULK = "/v3/chargers/commands/bulk"
TOKEN = "dev-token-alice"
ROWS = []


def row(attack, result, ok):
    ROWS.append((attack, result, "held" if ok else "OPEN"))
    print(f"  {'held' if ok else 'OPEN':4}  {attack}: {result}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def open_sockets(pid):
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def rss_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


class Server:
    def __init__(self, binary, fleet, log, max_connections=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--fleet", str(fleet)]
        if max_connections:
            command += ["--max-connections", str(max_connections)]
        env = {**os.environ, "RUST_LOG": "info"}
        self.proc = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("ocpp-bulk serve did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def http(server, method, path, body=None, token=TOKEN, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base + path, data=data, method=method)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    request.add_header("content-type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw(server, payload, wait=5.0):
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as s:
        s.sendall(payload)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks).decode("latin-1")


def is_json_answer(answer):
    head, _, body = answer.partition("\r\n\r\n")
    try:
        json.loads(body)
    except ValueError:
        return False
    return "content-type: application/json" in head.lower()


def attack_http(server):
    status, _, _ = http(server, "POST", "/@connections/anything", b"[2,\"1\",\"Reset\",{\"type\":\"Hard\"}]", token=None)
    row("POST /@connections/{id} on the public port (a Hard Reset past tokens)", f"{status}", status in (401, 404))
    before = peak_rss_mb(server.proc.pid)
    body = ('{"command":"Reset","data":{"type":"Soft"},"charger_ids":[' + ",".join(["1"] * 1_000_000) + "]}").encode()
    status, _, answer = http(server, "POST", BULK, body)
    peak = peak_rss_mb(server.proc.pid)
    row(
        "charger_ids of 1,000,000 integers (2 MB body)",
        f"{status}, a {len(answer):,}-byte answer, peak RSS {before:.0f} → {peak:.0f} MB",
        status == 422 and len(answer) < 64_000,
    )
    entries = ",".join(["{}"] * 500_000)
    body = f'{{"command":"SendLocalList","data":{{"listVersion":1,"updateType":"Full","localAuthorizationList":[{entries}]}},"charger_ids":["x"]}}'
    before = peak_rss_mb(server.proc.pid)
    status, _, answer = http(server, "POST", BULK, body.encode())
    peak = peak_rss_mb(server.proc.pid)
    result = f"{status}, a {len(answer):,}-byte answer, peak RSS {before:.0f} → {peak:.0f} MB"
    row("SendLocalList with 500,000 {} entries (1.5 MB body)", result, status == 422 and len(answer) < 64_000)
    forged = "eyJzIjoiYWxpY2UiLCJhIjoiMDAwMDAwMDAwMDEwIn0.AAAA"
    status, _, _ = http(server, "GET", f"{BULK}?cursor={forged}")
    row("a cursor built by hand", f"{status}", status == 422)
    for value in ("1e19", "100000000000000000000000000000", "2147483648"):
        body = f'{{"command":"UnlockConnector","data":{{"connectorId":{value}}},"charger_ids":["x"]}}'
        status, _, answer = http(server, "POST", BULK, body.encode())
        named = b"data.connectorId" in answer
        row(f"connectorId {value}", f"{status}, names data.connectorId: {named}", status == 422 and named)
    for name, payload, expect in (
        ("a bad request line", b"NOT HTTP\r\n\r\n", "400"),
        ("a 70,000-character URI", f"GET /{'a' * 70_000} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), "414"),
        ("120 header fields", ("GET / HTTP/1.1\r\n" + "".join(f"x-{i}: v\r\n" for i in range(120)) + "\r\n").encode(), "431"),
        ("GET /ocpp/%FF", b"GET /ocpp/%FF HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", "400"),
    ):
        answer = raw(server, payload)
        status = answer[9:12]
        row(f"{name}", f"{status}, JSON: {is_json_answer(answer)}", status == expect and is_json_answer(answer))
    for method, path, token, expect in (("GET", BULK, None, 401), ("DELETE", BULK, TOKEN, 405), ("GET", "/v3/x", TOKEN, 404)):
        status, headers, _ = http(server, method, path, token=token)
        has = "X-RateLimit-Remaining" in headers or "x-ratelimit-remaining" in headers
        row(f"{method} {path} ({expect}) carries X-RateLimit headers", f"{status}, headers: {has}", status == expect and has)


async def attack_chargers(server, log_path):
    ws = f"ws://127.0.0.1:{server.port}/ocpp"
    async with websockets.connect(f"{ws}/CP002", subprotocols=["ocpp1.6"]) as charger:
        boot = {"chargePointVendor": "V", "chargePointModel": "M", "bogus": 1}
        await charger.send(json.dumps([2, "b1", "BootNotification", boot]))
        answer = json.loads(await charger.recv())
        ok = answer[:3] == [4, "b1", "FormationViolation"]
        row('BootNotification with "bogus": 1', f"CALLERROR {answer[2]}: {answer[3][:40]}", ok)
        before = log_path.read_text().count("malformed frame")
        for i in range(1_000):
            await charger.send("[2, 1, 2]")
        await charger.send(json.dumps([2, "h", "Heartbeat", {}]))
        await charger.recv()
        await asyncio.sleep(0.5)
        lines = log_path.read_text().count("malformed frame") - before
        row("1,000 malformed frames on one connection", f"{lines} log lines", lines <= 21)
    # A 5 MB CALLERROR description: over API Gateway's 128 KB message limit.
    try:
        async with websockets.connect(f"{ws}/CP003", subprotocols=["ocpp1.6"], max_size=None) as charger:
            await charger.send(json.dumps([4, "x", "GenericError", "e" * 5_000_000, {}]))
            await asyncio.wait_for(charger.recv(), 5)
            closed = "no"
    except websockets.ConnectionClosed as e:
        closed = f"closed {e.rcvd.code if e.rcvd else e.sent.code if e.sent else ''}"
    row("a 5 MB CALLERROR description", closed, closed.startswith("closed"))
    # A replaced connection that never answers our Close is dropped anyway.
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(
        b"GET /ocpp/CP004 HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: ocpp1.6\r\n\r\n"
    )
    s.recv(4096)
    async with websockets.connect(f"{ws}/CP004", subprotocols=["ocpp1.6"]):
        started = time.monotonic()
        s.settimeout(15)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        took = time.monotonic() - started
    s.close()
    row("a replaced connection that never answers Close", f"dropped after {took:.1f} s", took < 8)


def attack_idle(server, count):
    sockets = []
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=2))
        except OSError:
            break
    started = time.monotonic()
    status, _, _ = http(server, "GET", BULK)
    took = (time.monotonic() - started) * 1000
    row(f"{len(sockets):,} idle TCP connections, then a GET", f"{status} in {took:.0f} ms", status == 200)
    time.sleep(11)
    closed = 0
    for s in sockets:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    row(f"the same {len(sockets):,}, 11 s later", f"{closed:,} closed by the server (header-read timeout 10 s)", closed == len(sockets))


def attack_guessing(binary, fleet, log):
    server = Server(binary, fleet, log)
    try:
        statuses = [http(server, "GET", BULK, token=f"guess-{i}")[0] for i in range(100)]
        row("100 guessed tokens in a row", f"{statuses.count(401)} × 401, then {statuses.count(429)} × 429", statuses[-1] == 429)
        status, _, _ = http(server, "GET", BULK)
        row("then the right token, from the same address", f"{status}", status == 429)
    finally:
        server.stop()


def attack_cap(binary, fleet, log):
    server = Server(binary, fleet, log, max_connections=50)
    try:
        baseline = open_sockets(server.proc.pid)
        sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
        deadline = time.monotonic() + 5
        while open_sockets(server.proc.pid) < baseline + 50 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the server has accepted all 50
        held = open_sockets(server.proc.pid) - baseline
        answer = raw(server, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        result = f"{answer[9:12]}, JSON: {is_json_answer(answer)} (the server held {held} connections)"
        row("connection 51 with --max-connections 50", result, answer[9:12] == "503")
        for s in sockets:
            s.close()
        time.sleep(0.2)
        status, _, _ = http(server, "GET", BULK)
        row("after they close", f"{status}", status == 200)
    finally:
        server.stop()


def main():
    binary = os.environ.get("OCPP_BULK_BIN", str(ROOT / "target" / "debug" / "ocpp-bulk"))
    fleet = ROOT / "fleet.example.json"
    idle = int(os.environ.get("ADVERSARIAL_IDLE", "2000"))
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        server = Server(binary, fleet, log)
        try:
            print(f"ocpp-bulk serve on {server.base} (pid {server.proc.pid}); attacks:")
            attack_http(server)
            asyncio.run(attack_chargers(server, Path(log.name)))
            attack_idle(server, idle)
            alive = server.proc.poll() is None
            usage = f"RSS {rss_mb(server.proc.pid):.0f} MB, peak {peak_rss_mb(server.proc.pid):.0f} MB"
            row("the server after all of it", f"running: {alive}, {usage}", alive)
        finally:
            server.stop()
        attack_guessing(binary, fleet, log)
        attack_cap(binary, fleet, log)
    width = max(len(a) for a, _, _ in ROWS)
    print(f"\n{'attack':{width}}  verdict  result")
    for attack, result, verdict in ROWS:
        print(f"{attack:{width}}  {verdict:7}  {result}")
    open_doors = [a for a, _, v in ROWS if v != "held"]
    print(f"\n{len(ROWS) - len(open_doors)}/{len(ROWS)} held")
    sys.exit(1 if open_doors else 0)


if __name__ == "__main__":
    main()
