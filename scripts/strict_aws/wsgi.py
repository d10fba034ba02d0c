"""Reading a request as WSGI hands it over: its body once (the IAM check, the faults and moto all
read it), its JSON, the credential it was signed with."""

import json
import re
from io import BytesIO


def _credential(environ):
    """(access key id, region) of the request's SigV4 Authorization header."""
    match = re.search(r"Credential=([^/,]+)/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match.groups() if match else ("", "us-east-1")


def _request(environ):
    """The request's JSON body, parsed once (the IAM check and the faults both read it); None when
    it is not JSON."""
    if "strict.request" not in environ:
        try:
            environ["strict.request"] = json.loads(_body(environ))
        except ValueError:
            environ["strict.request"] = None
    return environ["strict.request"]


def _body(environ):
    """The request's body, read once: kept as environ["strict.body"], and handed back to moto as a
    fresh stream."""
    if "strict.body" not in environ:
        stream, length = environ["wsgi.input"], environ.get("CONTENT_LENGTH")
        whole = environ.get("wsgi.input_terminated")  # a chunked body, already de-chunked by werkzeug
        body = stream.read(int(length)) if length else stream.read() if whole else b""
        environ["strict.body"] = body
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = BytesIO(body), str(len(body))
    return environ["strict.body"]
