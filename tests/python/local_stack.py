"""`ocpp-bulk serve` for the Python tests: a fleet file, a free port, the server started on either
backend (the AWS one needs moto's server on loopback, which scripts/test.sh starts and exports as
AWS_ENDPOINT_URL) and stopped again, and a JSON client for its API. scripts/create_bench.py starts
its servers here too."""

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("OCPP_BULK_BIN", os.path.join(ROOT, "target", "debug", "ocpp-bulk"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def started(fleet, backend="embedded", extra=(), prefix="py"):
    """Yields (API base URL, chargers' WebSocket base URL, the process) of `ocpp-bulk serve` holding
    `fleet`, once it answers (at most 60 s: the AWS backend provisions its tables first)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(fleet, f)
    port = free_port()
    args = [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--fleet", f.name, "--backend", backend, *extra]
    if backend == "aws":
        args += ["--prefix", f"{prefix}-{uuid.uuid4().hex[:10]}"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/v3/chargers", timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("ocpp-bulk serve exited")
                time.sleep(0.1)
        yield base, f"ws://127.0.0.1:{port}/ocpp", proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        os.unlink(f.name)


@contextlib.contextmanager
def serve(fleet, backend="embedded", extra=()):
    """Yields (API base URL, chargers' WebSocket base URL) of a server holding `fleet`."""
    if backend == "aws" and not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127."):
        import pytest

        pytest.skip("the AWS backend needs moto's server on loopback (scripts/test.sh starts it)")
    with started(fleet, backend, extra) as (base, ws, _):
        yield base, ws


def api(base, token, method, path, body=None):
    """(status, JSON body) of one request as `token`'s user."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, method=method, data=data,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
