"""The `ocpp-bulk` CLI against a stack behind TLS, as an operator meets a deployment: a local TLS
front (a generated certificate, trusted through SSL_CERT_FILE) before `ocpp-bulk serve` on each
backend. `sim` connects its chargers over wss://, `send` creates a run over https://, and `fleet
generate`, `runs`, `run` (with --status and --json) and `cancel` do what they say.
"""

import datetime
import ipaddress
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("OCPP_BULK_BIN", os.path.join(ROOT, "target", "debug", "ocpp-bulk"))
CHARGERS = 12


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certificate(directory):
    """A test CA and a server certificate it signs for localhost and 127.0.0.1; returns the paths
    of (the CA's certificate, the server's certificate, the server's key)."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject, issuer, public_key, signing_key, ca):
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocpp-bulk test CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    server = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key.public_key(),
                   ca_key, False)
    paths = [os.path.join(directory, name) for name in ("ca.pem", "cert.pem", "key.pem")]
    for path, data in zip(paths, [ca.public_bytes(serialization.Encoding.PEM),
                                  server.public_bytes(serialization.Encoding.PEM),
                                  key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())]):
        with open(path, "wb") as f:
            f.write(data)
    return paths


def tls_front(cert, key, backend_port):
    """Terminates TLS on a free port and pipes each connection to the plain server."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while True:
            raw, _ = listener.accept()
            try:
                client = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", backend_port))
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return port


def cli(*args, env=None, check=True):
    done = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert done.returncode == 0, f"ocpp-bulk {' '.join(args)}: {done.stderr}"
    return done


@pytest.fixture(scope="module", params=["embedded", "aws"])
def stack(request):
    if request.param == "aws" and not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127."):
        pytest.skip("the AWS backend needs moto's server (scripts/test.sh starts it)")
    directory = tempfile.mkdtemp()
    fleet_path = os.path.join(directory, "fleet.json")
    generated = cli("fleet", "generate", "--chargers", str(CHARGERS), "--teams", "2", "--passwords")
    with open(fleet_path, "w") as f:
        f.write(generated.stdout)
    fleet = json.loads(generated.stdout)
    assert "token for admin" in generated.stderr, "the tokens are told once, on standard error"
    port = free_port()
    args = [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--fleet", fleet_path]
    if request.param == "aws":
        args += ["--backend", "aws", "--prefix", f"ocpp-bulk-tls-{uuid.uuid4().hex[:12]}"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            time.sleep(0.1)
    ca, cert, key = certificate(directory)
    tls_port = tls_front(cert, key, port)
    admin = next(t["token"] for t in fleet["tokens"] if t["user"] == "admin")
    env = dict(os.environ, SSL_CERT_FILE=ca, OCPP_BULK_API=f"https://localhost:{tls_port}", OCPP_BULK_TOKEN=admin)
    sim = subprocess.Popen([BINARY, "sim", "--url", f"wss://localhost:{tls_port}/ocpp", "--fleet", fleet_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = sim.stdout.readline()
    assert line.strip() == f"connected {CHARGERS}", f"sim over wss://: {line!r} {sim.stderr.read() if not line else ''}"
    yield {"env": env, "fleet": fleet_path, "fleet_json": fleet, "tls_port": tls_port}
    sim.terminate()
    server.terminate()
    sim.wait(timeout=10)
    server.wait(timeout=10)


def test_send_over_https_and_look_at_the_run(stack):
    env = stack["env"]
    sent = cli("send", "--command", "Reset", "--data", '{"type": "Soft"}', "--fleet", stack["fleet"], env=env)
    assert f"{CHARGERS} Accepted" in sent.stdout, sent.stdout
    runs = json.loads(cli("runs", "--json", env=env).stdout)
    run = runs[0]
    assert run["command"] == "Reset" and run["status"] == "completed" and run["sent_count"] == CHARGERS
    assert run["uuid"] in cli("runs", env=env).stdout

    summary = json.loads(cli("run", run["uuid"], "--json", env=env).stdout)
    assert summary["results_by_status"] == {"sent": {"Accepted": CHARGERS}}
    table = cli("run", run["uuid"], env=env).stdout
    assert "Accepted" in table and run["uuid"] in table
    results = json.loads(cli("run", run["uuid"], "--status", "sent", "--json", env=env).stdout)
    assert len(results) == CHARGERS and all(r["status"] == "sent" for r in results)
    assert json.loads(cli("run", run["uuid"], "--status", "error", "--json", env=env).stdout) == []


def test_watch_and_cancel_a_paced_run(stack):
    env = stack["env"]
    ids = [c["uuid"] for c in stack["fleet_json"]["chargers"]]
    created = subprocess.Popen(
        [BINARY, "send", "--command", "ClearCache", "--chargers", ",".join(ids), "--max-per-second", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        running = [r for r in json.loads(cli("runs", "--json", env=env).stdout) if r["status"] == "running"]
        if running:
            break
        time.sleep(0.3)
    run = running[0]["uuid"]
    cancelled = json.loads(cli("cancel", run, "--json", env=env).stdout)
    assert cancelled["uuid"] == run
    watched = json.loads(cli("run", run, "--watch", "--json", env=env).stdout)
    assert watched["run"]["status"] == "completed"
    assert watched["results_by_status"].get("error", {}).get("cancelled", 0) >= CHARGERS // 2, watched
    created.wait(timeout=60)


def test_https_refuses_an_untrusted_certificate(stack):
    env = dict(stack["env"])
    env.pop("SSL_CERT_FILE")
    refused = cli("runs", env=env, check=False)
    assert refused.returncode != 0
    assert "cannot reach the API" in refused.stderr


def test_another_users_run_is_not_found(stack):
    env = stack["env"]
    run = json.loads(cli("runs", "--json", env=env).stdout)[0]["uuid"]
    operator = next(t["token"] for t in stack["fleet_json"]["tokens"] if t["user"] == "operator-1")
    missing = cli("run", run, env=dict(env, OCPP_BULK_TOKEN=operator), check=False)
    assert missing.returncode != 0 and "404" in missing.stderr
