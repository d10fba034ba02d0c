"""A strict stand-in for AWS, in front of moto's server: AWS's failure modes that moto never shows.

moto applies every request it can; AWS also throttles hot partitions and tables, cancels writes that
meet a transaction still in flight, answers 500 (sometimes after applying the request), delivers an
SQS message twice, and honours TransactWriteItems' ClientRequestToken. `StrictAws` is a WSGI
middleware around moto's application that does all of that, configured from STRICT_* variables
(`Config`). Injected faults are deterministic for a given seed: every DynamoDB data request draws the
same five numbers from one `random.Random(seed)`, whatever happens to it, so they depend only on the
order of the requests; holds, capacity buckets and tokens follow the clock, as on AWS.

DynamoDB requests must reach it one at a time (moto_server.Serialized holds the lock around it): its
holds, buckets, tokens and RNG are then used by one request at a time. SQS requests are not
serialised (long polls); their RNG has its own lock.

Only the AWS JSON 1.0 protocol is handled (X-Amz-Target: DynamoDB_20120810.Op / AmazonSQS.Op), the
protocol of the AWS SDK for Rust and of current boto3; anything else passes through untouched, as do
setup and control-plane operations (CreateTable, DescribeTable, UpdateTimeToLive, CreateQueue,
GetQueueAttributes, ListQueues, ...) and moto's /moto-api/.

GET /strict-api/stats answers the counters (STAT_KEYS); POST /strict-api/reset zeroes them.
POST /strict-api/arm {"operation", "table", "when": "before"|"after", "times"} makes the next `times`
requests of that DynamoDB operation on that table answer 500, before or after moto applied them: a
test's way to lose one answer on purpose, whatever the random rates draw.
"""

import copy
import dataclasses
import hashlib
import json
import math
import os
import random
import re
import threading
import time
import uuid
import zlib
from collections import defaultdict
from io import BytesIO
from typing import NamedTuple

import moto.sqs.models as sqs_models
from moto.dynamodb.models import dynamodb_backends
from moto.iam.models import get_account_id_from
from werkzeug.http import HTTP_STATUS_CODES

DYNAMODB = "com.amazonaws.dynamodb.v20120810#"
SQS_INTERNAL = "com.amazonaws.sqs#InternalError"
JSON_10 = "application/x-amz-json-1.0"

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
SQS_DATA = {
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}

STAT_KEYS = (
    "transaction_conflict_injected",  # a TransactWriteItems cancelled at random (TransactionConflict)
    "transaction_conflict_held",  # a TransactWriteItems cancelled: an item is held by another one
    "write_conflict_held",  # a Put/Update/DeleteItem (or BatchWriteItem entry) on a held item
    "throttle_injected",  # a DynamoDB request throttled at random
    "partition_throttled",  # one key over its partition's bucket (per item, entry or key)
    "table_throttled",  # one key over its table's bucket (per item, entry or key)
    "server_error_before",  # a 500 before the request was applied
    "server_error_after",  # a 500 after moto handled the request (a write then took effect)
    "sqs_server_error",  # an SQS 500 (never applied)
    "sqs_duplicated",  # an SQS message enqueued a second time
    "token_replayed",  # a TransactWriteItems answered from its ClientRequestToken, not applied again
    "token_mismatch",  # same ClientRequestToken, different request: IdempotentParameterMismatch
    "requests_dynamodb",
    "requests_sqs",
)

# DynamoDB's own words for an on-demand table over a partition's throughput.
HOT_PARTITION = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling "
    "your table or index so please try again shortly. If exceptions persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
TABLE_CAP = "Rate of requests exceeds the allowed throughput."
ONGOING = "Transaction is ongoing for the item"


@dataclasses.dataclass(frozen=True)
class Config:
    """Each field is read from STRICT_<FIELD NAME> (enabled: STRICT_AWS, 0 turns everything off)."""

    enabled: bool = True
    seed: int = 7
    transaction_conflict_rate: float = 0.10
    transaction_hold_ms: float = 10
    throttle_rate: float = 0.03
    server_error_rate: float = 0.01
    sqs_duplicate_rate: float = 0.02
    partition_wcu: float = 1000
    partition_rcu: float = 3000
    table_wcu: float = 4000
    table_rcu: float = 12000
    transaction_token_ttl_seconds: float = 600

    @classmethod
    def from_env(cls, env=os.environ):
        values = {}
        for field in dataclasses.fields(cls):
            name = "STRICT_AWS" if field.name == "enabled" else "STRICT_" + field.name.upper()
            if name in env:
                raw = env[name]
                values[field.name] = raw.strip() not in ("0", "", "false") if field.type is bool else float(raw)
        if "seed" in values:
            values["seed"] = int(values["seed"])
        return cls(**values)

    def describe(self):
        if not self.enabled:
            return "strict-aws: off (STRICT_AWS=0): plain moto, DynamoDB requests serialised"
        fields = " ".join(f"{f.name}={getattr(self, f.name):g}" for f in dataclasses.fields(self)[1:])
        return f"strict-aws: on {fields}"


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


def _size(value):
    return len(json.dumps(value, separators=(",", ":")))


def write_units(value):
    return max(1, math.ceil(_size(value) / 1024))


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


class StrictAws:
    def __init__(self, app, config):
        self.app = app
        self.config = config
        self.rng = random.Random(config.seed)  # DynamoDB: used under moto_server.Serialized's lock
        self.sqs_rng = random.Random(config.seed + 1)
        self.sqs_lock = threading.Lock()
        self.stats_lock = threading.Lock()
        self.stats = dict.fromkeys(STAT_KEYS, 0)
        self.injected_throttle = "table_throttled"  # injected throttles alternate between the two kinds
        self.buckets = {}  # (kind, table, partition or None) -> Bucket
        self.holds = {}  # (table, key) -> monotonic time the hold ends
        self.tokens = {}  # ClientRequestToken -> (digest of TransactItems, expiry, Response)
        self.seen = 0
        self.forwarded = None  # moto's answer to the request in hand, once it has one
        self.armed = []  # [operation, table, when, times left], from POST /strict-api/arm
        _duplicate_sqs_sends(self)

    # --- plumbing

    def count(self, key, n=1):
        with self.stats_lock:
            self.stats[key] += n

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/strict-api/"):
            response = self.api(environ)
        else:
            if path == "/moto-api/reset":  # moto forgets every table and queue: so do holds and tokens
                self.holds, self.tokens, self.buckets = {}, {}, {}
            service, _, op = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
            response = None
            if service.startswith("DynamoDB_"):
                self.count("requests_dynamodb")
                if self.config.enabled and op in WRITES | READS:
                    response = self.dynamodb(environ, op)
            elif service == "AmazonSQS":
                self.count("requests_sqs")
                if self.config.enabled and op in SQS_DATA:
                    with self.sqs_lock:
                        failed = self.sqs_rng.random() < self.config.server_error_rate
                    if failed:
                        self.count("sqs_server_error")
                        response = sqs_internal_error()
            if response is None:
                return self.app(environ, start_response)
        start_response(response.status, response.headers)
        return [response.body]

    def api(self, environ):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/strict-api/stats" and method == "GET":
            with self.stats_lock:
                return _response(200, dict(self.stats))
        if path == "/strict-api/reset" and method == "POST":
            with self.stats_lock:
                self.stats = dict.fromkeys(STAT_KEYS, 0)
                return _response(200, dict(self.stats))
        if path == "/strict-api/arm" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                fault = json.loads(environ["wsgi.input"].read(length))
                armed = [fault["operation"], fault["table"], fault["when"], int(fault.get("times", 1))]
            except (ValueError, KeyError, TypeError) as e:
                return _response(400, {"message": f"arm: {e!r}"})
            if armed[2] not in ("before", "after") or armed[0] not in WRITES | READS:
                return _response(400, {"message": "arm: when is before or after, operation a data operation"})
            with self.stats_lock:
                self.armed.append(armed)
            return _response(200, {"armed": armed})
        return _response(404, {"message": "GET /strict-api/stats, POST /strict-api/reset or /strict-api/arm"})

    def take_armed(self, op, table):
        """When a fault is armed for this operation on this table: "before" or "after", used up once."""
        with self.stats_lock:
            for armed in self.armed:
                if armed[:2] == [op, table] and armed[3] > 0:
                    armed[3] -= 1
                    return armed[2]
        return None

    def forward(self, environ, body=None):
        """Hands `body` (by default the request's own) to moto; moto's whole answer."""
        body = environ["strict.body"] if body is None else body
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        started, written = [], []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, list(headers)]
            return written.append

        result = self.app(environ, start_response)
        try:
            written.extend(result)
        finally:
            getattr(result, "close", lambda: None)()
        self.forwarded = Response(started[0], started[1], b"".join(written))
        return self.forwarded

    def table(self, environ, name):
        """moto's Table for the request's account and region, or None."""
        match = re.search(r"Credential=([^/,]+)/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region = match.groups() if match else ("", "us-east-1")
        return dynamodb_backends[get_account_id_from(access_key)][region].tables.get(name)

    @staticmethod
    def key(table, attrs):
        names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
        return json.dumps({n: attrs.get(n) for n in names}, sort_keys=True)

    @staticmethod
    def partition(table, attrs, index=None):
        """(bucket name, partition key value): a GSI's partitions are its own."""
        for gsi in table.global_indexes if index else ():
            if gsi.name == index:
                name = next(k["AttributeName"] for k in gsi.schema if k["KeyType"] == "HASH")
                return f"{table.name}/{index}", json.dumps(attrs.get(name), sort_keys=True)
        return table.name, json.dumps(attrs.get(table.hash_key_attr), sort_keys=True)

    def held(self, table, key, now):
        return self.holds.get((table, key), 0) > now

    def admit(self, kind, charges, all_or_nothing):
        """charges: (table, partition or None, units) each. Returns, per charge, None when it fits both
        its partition's and its table's bucket, else the stat that throttled it; takes the units of the
        charges that fit (none when all_or_nothing and one did not)."""
        now = time.monotonic()
        taken = defaultdict(float)
        verdicts = []
        for table, partition, units in charges:
            buckets = {"table_throttled": self.bucket(kind, table, None, now)}
            if partition is not None:
                buckets = {"partition_throttled": self.bucket(kind, table, partition, now), **buckets}
            verdict = next((stat for stat, b in buckets.items() if not b.fits(taken[b] + units, units, now)), None)
            verdicts.append(verdict)
            if verdict is None:
                for b in buckets.values():
                    taken[b] += units
        if not (all_or_nothing and any(verdicts)):
            for b, units in taken.items():
                b.tokens -= units
        for verdict in filter(None, verdicts):
            self.count(verdict)
        return verdicts

    def bucket(self, kind, table, partition, now):
        name = (kind, table, partition)
        if name not in self.buckets:
            c = self.config
            rate = {"write": (c.partition_wcu, c.table_wcu), "read": (c.partition_rcu, c.table_rcu)}[kind]
            self.buckets[name] = Bucket(rate[partition is None], now)
        return self.buckets[name]

    # --- DynamoDB

    def dynamodb(self, environ, op):
        stream, length = environ["wsgi.input"], environ.get("CONTENT_LENGTH")
        whole = environ.get("wsgi.input_terminated")  # a chunked body, already de-chunked by werkzeug
        environ["strict.body"] = stream.read(int(length)) if length else stream.read() if whole else b""
        self.forwarded = None
        try:
            request = json.loads(environ["strict.body"])
        except ValueError:
            return self.forward(environ)
        c = self.config
        # Always five draws, so the faults below depend only on the order of requests.
        error, after, throttle, conflict, pick = (self.rng.random() for _ in range(5))
        self.seen += 1
        if self.seen % 1000 == 0:
            now = time.monotonic()
            self.holds = {k: t for k, t in self.holds.items() if t > now}
            self.tokens = {k: v for k, v in self.tokens.items() if v[1] > now}
        armed = self.take_armed(op, request.get("TableName")) if isinstance(request, dict) else None
        if armed == "before" or (armed == "after" and op not in WRITES):
            self.count("server_error_before")
            return dynamodb_error("InternalServerError", "Internal server error", 500)
        error_after = armed == "after"
        if not armed and error < c.server_error_rate:
            # AWS: a 500 means the request may or may not have been applied; half of a write's are after.
            if op in WRITES and after < 0.5:
                error_after = True
            else:
                self.count("server_error_before")
                return dynamodb_error("InternalServerError", "Internal server error", 500)
        if not armed and throttle < c.throttle_rate:
            self.count("throttle_injected")
            kinds = ("partition_throttled", "table_throttled")
            self.injected_throttle = kinds[self.injected_throttle == kinds[0]]
            return self.throttled(self.injected_throttle)
        handler = getattr(self, op, None) if op != "TransactGetItems" else None
        try:
            response = handler(environ, request, conflict < c.transaction_conflict_rate, pick) if handler else None
        except (KeyError, TypeError, AttributeError, ValueError, StopIteration):
            response = self.forwarded  # a malformed request: moto answers it (once)
        if response is None:
            response = self.forward(environ)
        if error_after:
            self.count("server_error_after")
            return dynamodb_error("InternalServerError", "Internal server error", 500)
        return response

    @staticmethod
    def throttled(verdict):
        """A hot partition is ProvisionedThroughputExceeded; a table over its throughput, Throttling."""
        if verdict == "partition_throttled":
            return dynamodb_error("ProvisionedThroughputExceededException", HOT_PARTITION)
        return dynamodb_error("ThrottlingException", TABLE_CAP)

    def single_write(self, environ, request, attrs, units):
        name = request["TableName"]
        table = self.table(environ, name)
        if table is None:
            return None
        if self.held(name, self.key(table, attrs), time.monotonic()):
            # A write on an item inside a running transaction is rejected, not queued.
            self.count("write_conflict_held")
            return dynamodb_error("TransactionConflictException", ONGOING)
        (verdict,) = self.admit("write", [(*self.partition(table, attrs), units)], True)
        if verdict:
            return self.throttled(verdict)
        return self.forward(environ)

    def PutItem(self, environ, request, *_):
        return self.single_write(environ, request, request["Item"], write_units(request["Item"]))

    def DeleteItem(self, environ, request, *_):
        return self.single_write(environ, request, request["Key"], write_units(request["Key"]))

    def UpdateItem(self, environ, request, *_):
        sent = [request["Key"], request.get("UpdateExpression"), request.get("ExpressionAttributeValues")]
        return self.single_write(environ, request, request["Key"], write_units(sent))

    def TransactWriteItems(self, environ, request, inject_conflict, pick):
        c, now = self.config, time.monotonic()
        items = request["TransactItems"]
        token = request.get("ClientRequestToken")
        digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
        if token and token in self.tokens and self.tokens[token][1] > now:
            # AWS: within the token's window the same request succeeds again without being applied;
            # a different one under the same token is refused.
            if self.tokens[token][0] == digest:
                self.count("token_replayed")
                return self.tokens[token][2]
            self.count("token_mismatch")
            return dynamodb_error(
                "IdempotentParameterMismatchException",
                "The request uses the same client token as a previous, but non-identical request.",
            )
        entries = []  # (table name, moto Table or None, item attributes or key)
        for entry in items:
            (spec,) = entry.values()
            name = spec["TableName"]
            entries.append((name, self.table(environ, name), spec.get("Item") or spec["Key"]))
        keys = [(name, self.key(table, attrs) if table else None) for name, table, attrs in entries]
        conflict = ("TransactionConflict", ONGOING)
        reasons = [conflict if self.held(name, key, now) else (None, None) for name, key in keys]
        if any(code for code, _ in reasons):
            self.count("transaction_conflict_held")
            return transaction_cancelled(reasons)
        if inject_conflict:
            self.count("transaction_conflict_injected")
            reasons[int(pick * len(items))] = conflict
            return transaction_cancelled(reasons)
        # A transactional write costs twice a plain one. AWS cancels a throttled transaction (reason
        # ThrottlingError on the throttled items) rather than answering ProvisionedThroughputExceeded.
        charged = [i for i, (_, table, _) in enumerate(entries) if table]
        charges = [(*self.partition(entries[i][1], entries[i][2]), 2 * write_units(items[i])) for i in charged]
        throttled = {i for i, verdict in zip(charged, self.admit("write", charges, True)) if verdict}
        if throttled:
            throttle = ("ThrottlingError", HOT_PARTITION)
            return transaction_cancelled([throttle if i in throttled else (None, None) for i in range(len(items))])
        response = self.forward(environ)
        if response.ok:
            # The transaction is still "running" on AWS for a moment: its items stay held.
            for name, key in keys:
                if key is not None:
                    self.holds[(name, key)] = time.monotonic() + c.transaction_hold_ms / 1000
            if token:
                self.tokens[token] = (digest, time.monotonic() + c.transaction_token_ttl_seconds, response)
        return response

    def BatchWriteItem(self, environ, request, *_):
        now = time.monotonic()
        tables = {name: self.table(environ, name) for name in request["RequestItems"]}
        if None in tables.values():
            return None
        keep, unprocessed, throttled, total = {}, defaultdict(list), 0, 0
        for name, entries in request["RequestItems"].items():
            table = tables[name]
            for entry in entries:
                total += 1
                attrs = entry["PutRequest"]["Item"] if "PutRequest" in entry else entry["DeleteRequest"]["Key"]
                if self.held(name, self.key(table, attrs), now):
                    self.count("write_conflict_held")
                    unprocessed[name].append(entry)
                elif self.admit("write", [(*self.partition(table, attrs), write_units(attrs))], True)[0]:
                    # AWS returns throttled entries unprocessed; only a batch throttled whole fails.
                    throttled += 1
                    unprocessed[name].append(entry)
                else:
                    keep.setdefault(name, []).append(entry)
        if total and throttled == total:
            return dynamodb_error("ProvisionedThroughputExceededException", HOT_PARTITION)
        if not keep:
            return _response(200, {"UnprocessedItems": unprocessed})
        response = self.forward(environ, json.dumps({**request, "RequestItems": keep}).encode())
        if not response.ok or not unprocessed:
            return response
        payload = json.loads(response.body)
        for name, entries in payload.get("UnprocessedItems", {}).items():
            unprocessed[name].extend(entries)
        return _with_payload(response, {**payload, "UnprocessedItems": unprocessed})

    def GetItem(self, environ, request, *_):
        table = self.table(environ, request["TableName"])
        response = self.forward(environ)
        if table is None or not response.ok:
            return response
        item = json.loads(response.body).get("Item")
        units = read_units(_size(item) if item else 0, request.get("ConsistentRead", False))
        (verdict,) = self.admit("read", [(*self.partition(table, request["Key"]), units)], True)
        return self.throttled(verdict) if verdict else response

    def Query(self, environ, request, *_):
        table = self.table(environ, request["TableName"])
        response = self.forward(environ)
        if table is None or not response.ok:
            return response
        # A Query or Scan costs the summed size of what it returns, rounded up once.
        items = json.loads(response.body).get("Items", [])
        units = read_units(sum(map(_size, items)), request.get("ConsistentRead", False))
        name, partition = self.partition(table, items[0] if items else {}, request.get("IndexName"))
        if not (items and request.get("KeyConditionExpression")):
            partition = None  # a Scan, or nothing found: the table's (or index's) bucket alone
        (verdict,) = self.admit("read", [(name, partition, units)], True)
        return self.throttled(verdict) if verdict else response

    Scan = Query

    def BatchGetItem(self, environ, request, *_):
        tables = {name: self.table(environ, name) for name in request["RequestItems"]}
        response = self.forward(environ)
        if None in tables.values() or not response.ok:
            return response
        payload = json.loads(response.body)
        responses = payload.get("Responses", {})
        unprocessed, throttled, total = payload.get("UnprocessedKeys", {}), 0, 0
        for name, spec in request["RequestItems"].items():
            table = tables[name]
            found = {self.key(table, item): item for item in responses.get(name, [])}
            for key in spec["Keys"]:
                total += 1
                item = found.get(self.key(table, key))
                units = read_units(_size(item) if item else 0, spec.get("ConsistentRead", False))
                if self.admit("read", [(*self.partition(table, key), units)], True)[0]:
                    # Throttled keys come back unprocessed, with the rest of their table's request.
                    throttled += 1
                    unprocessed.setdefault(name, {**spec, "Keys": []})["Keys"].append(key)
                    if item is not None:
                        responses[name].remove(item)
        if total and throttled == total:
            return dynamodb_error("ProvisionedThroughputExceededException", HOT_PARTITION)
        if not throttled:
            return response
        return _with_payload(response, {**payload, "Responses": responses, "UnprocessedKeys": unprocessed})

    # --- SQS

    def duplicate_sqs_send(self):
        if not self.config.enabled or self.config.sqs_duplicate_rate <= 0:
            return False
        with self.sqs_lock:
            twice = self.sqs_rng.random() < self.config.sqs_duplicate_rate
        if twice:
            self.count("sqs_duplicated")
        return twice


def _duplicate_sqs_sends(strict):
    """Patches moto's SQSBackend.send_message (SendMessageBatch sends each entry through it): a
    message picked by `strict` is enqueued a second time, the same message (id, body, attributes)
    with its own receipt handles, as SQS's at-least-once delivery may do. FIFO queues are
    exactly-once: never duplicated."""
    backend = sqs_models.SQSBackend
    original = getattr(backend.send_message, "strict_original", backend.send_message)

    def send_message(self, queue_name, message_body, *args, **kwargs):
        message = original(self, queue_name, message_body, *args, **kwargs)
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue and strict.duplicate_sqs_send():
            twin = copy.copy(message)
            twin.receipt_handle, twin._old_receipt_handles = None, []
            queue.add_message(twin)
        return message

    send_message.strict_original = original
    backend.send_message = send_message
