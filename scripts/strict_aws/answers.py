"""AWS's answers as the stand-in gives them (error shapes for DynamoDB and SQS), and the capacity
arithmetic behind its throttles (units per request, token buckets)."""

import json
import math
import uuid
import zlib
from typing import NamedTuple

from moto.dynamodb.models.dynamo_type import DynamoType
from werkzeug.http import HTTP_STATUS_CODES

from .config import DYNAMODB, JSON_10, SQS_INTERNAL

class Response(NamedTuple):
    status: str
    headers: list
    body: bytes

    @property
    def ok(self):
        return self.status.startswith("200")


def _response(code, payload, headers=()):
    body = json.dumps(payload).encode()
    return Response(
        f"{code} {HTTP_STATUS_CODES[code]}",
        [
            ("Content-Type", JSON_10),
            ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
            ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)),  # boto3 checks it on DynamoDB answers
            ("Content-Length", str(len(body))),
            *headers,
        ],
        body,
    )


def dynamodb_error(code, message, status=400):
    return _response(status, {"__type": DYNAMODB + code, "message": message})


def transaction_cancelled(reasons):
    """AWS's (and moto's) TransactionCanceledException: one reason per item in request order, "None"
    for items that were fine; note the capital "Message" in this one body."""
    codes = ", ".join(code or "None" for code, _ in reasons)
    return _response(
        400,
        {
            "__type": DYNAMODB + "TransactionCanceledException",
            "CancellationReasons": [{"Code": c, "Message": text} if c else {"Code": "None"} for c, text in reasons],
            "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        },
    )


def denial_message(denial):
    """How AWS words the refusal of a call outside the caller's identity-based policy."""
    principal = f"arn:aws:sts::123456789012:assumed-role/{denial['function']}Role/{denial['function']}"
    return (
        f"User: {principal} is not authorized to perform: {denial['action']} on resource: {denial['resource']} "
        f"because no identity-based policy allows the {denial['action']} action"
    )


def access_denied(service, denial):
    """AWS's refusal of a call outside the caller's identity-based policy."""
    message = denial_message(denial)
    if service == "AmazonSQS":
        return _response(
            403,
            {"__type": "com.amazonaws.sqs#AccessDenied", "message": message},
            [("x-amzn-query-error", "AccessDenied;Sender")],
        )
    return _response(400, {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message})


def sqs_internal_error():
    """SQS's 500 in its JSON protocol: the query-compatible code rides in x-amzn-query-error."""
    return _response(
        500,
        {"__type": SQS_INTERNAL, "message": "We encountered an internal error. Please try again."},
        [("X-Amzn-Errortype", SQS_INTERNAL), ("x-amzn-query-error", "InternalError;Receiver")],
    )


def _with_payload(response, payload):
    """moto's answer with a rewritten JSON body (Content-Length and CRC32 recomputed)."""
    fresh = _response(int(response.status[:3]), payload)
    replaced = ("content-length", "x-amz-crc32", "content-type")
    keep = [(k, v) for k, v in response.headers if k.lower() not in replaced]
    return Response(fresh.status, keep + fresh.headers[:1] + fresh.headers[2:], fresh.body)


def item_bytes(attributes):
    """An item's size by DynamoDB's rule (attribute names and values: CapacityUnitCalculations),
    from its attributes as the JSON protocol carries them."""
    return DynamoType({"M": attributes}).size() if attributes else 0


def units_of(nbytes):
    """Write units of a write charged for `nbytes`: one per KB begun, at least one."""
    return max(1, math.ceil(nbytes / 1024))


def read_units(nbytes, consistent):
    # An eventually consistent read costs half a strongly consistent one.
    return max(1, math.ceil(nbytes / 4096)) * (1.0 if consistent else 0.5)


class Bucket:
    """Capacity refilled continuously at `rate` units a second, holding at most one second's worth."""

    def __init__(self, rate, now):
        self.rate = rate
        self.tokens = rate
        self.at = now

    def fits(self, need, units, now):
        """Whether `need` units (this charge of `units` plus what the same request already took) fit;
        a single charge larger than the whole bucket passes when the bucket is full."""
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return need <= self.tokens or (need == units and self.tokens >= self.rate)
