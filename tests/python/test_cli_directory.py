"""`ocpp-bulk tokens …` and `ocpp-bulk chargers …` against a directory table on moto's server (the
strict stand-in): what is imported is listed without secrets; tokens are revoked and rotated,
chargers removed, with the same hashing as `import`."""

import hashlib
import json
import os
import subprocess
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("OCPP_BULK_BIN", os.path.join(ROOT, "target", "debug", "ocpp-bulk"))


def cli(*args, check=True):
    done = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, f"ocpp-bulk {' '.join(args)}: {done.stderr}"
    return done


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    if not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127."):
        pytest.skip("needs moto's server (scripts/test.sh starts it)")
    prefix = f"ocpp-bulk-dir-{uuid.uuid4().hex[:12]}"
    path = tmp_path_factory.mktemp("fleet") / "fleet.json"
    generated = cli("fleet", "generate", "--chargers", "5", "--teams", "2", "--passwords")
    path.write_text(generated.stdout)
    cli("init", "--prefix", prefix)
    cli("import", "--prefix", prefix, "--fleet", str(path))
    return prefix, json.loads(generated.stdout)


def short_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def test_listing_shows_no_secret(imported):
    prefix, fleet = imported
    tokens = cli("tokens", "list", "--prefix", prefix).stdout
    chargers = cli("chargers", "list", "--prefix", prefix).stdout
    for token in fleet["tokens"]:
        assert token["token"] not in tokens
        assert short_hash(token["token"]) in tokens and token["user"] in tokens
    for charger in fleet["chargers"]:
        assert charger["identity"] in chargers and charger["password"] not in chargers
    assert "5 charger(s)" in chargers and "none" not in chargers.split("\n", 1)[1]


def test_rotate_replaces_a_users_tokens_and_revoke_removes_them(imported):
    prefix, fleet = imported
    admin = next(t for t in fleet["tokens"] if t["user"] == "admin")
    rotated = cli("tokens", "rotate", "--prefix", prefix, "--user", "admin").stdout
    new = rotated.strip().rsplit(" ", 1)[-1]
    listed = cli("tokens", "list", "--prefix", prefix).stdout
    assert short_hash(new) in listed and short_hash(admin["token"]) not in listed
    assert "team-1, team-2" in rotated, "the same teams"

    operator = next(t for t in fleet["tokens"] if t["user"] == "operator-1")
    assert "1 token(s) of operator-1 revoked" in cli("tokens", "revoke", "--prefix", prefix, "--user", "operator-1").stdout
    assert short_hash(operator["token"]) not in cli("tokens", "list", "--prefix", prefix).stdout
    other = next(t for t in fleet["tokens"] if t["user"] == "operator-2")
    assert cli("tokens", "revoke", "--prefix", prefix, "--token", other["token"]).stdout == "token revoked\n"
    missing = cli("tokens", "revoke", "--prefix", prefix, "--token", other["token"], check=False)
    assert missing.returncode != 0 and "no such token" in missing.stderr
    nobody = cli("tokens", "rotate", "--prefix", prefix, "--user", "nobody", check=False)
    assert nobody.returncode != 0 and "no token to rotate" in nobody.stderr


def test_remove_a_charger(imported):
    prefix, fleet = imported
    identity = fleet["chargers"][0]["identity"]
    assert "removed" in cli("chargers", "remove", "--prefix", prefix, "--identity", identity).stdout
    listed = cli("chargers", "list", "--prefix", prefix).stdout
    assert identity not in listed and "4 charger(s)" in listed
    again = cli("chargers", "remove", "--prefix", prefix, "--identity", identity, check=False)
    assert again.returncode != 0
