"""The WSGI middleware in front of moto: routes each request, injects faults, keeps holds,
capacity buckets and transaction tokens, duplicates SQS sends, and keeps a send's trace header on
its messages."""

import copy
import json
import random
import threading
import time
from collections import defaultdict
from io import BytesIO

import moto.sqs.models as sqs_models
from moto.dynamodb.models import dynamodb_backends
from moto.iam.models import get_account_id_from

from .admin import StrictApi
from .answers import Bucket, Response, access_denied, dynamodb_error, sqs_internal_error
from .config import HOT_PARTITION, ONGOING, READS, SQS_DATA, STAT_KEYS, TABLE_CAP, WRITES
from .iam import Guard, dynamodb_needs, secretsmanager_needs, sqs_needs
from .operations import DynamoDbOperations
from .wsgi import _body, _credential, _request



def tables_named(request):
    """The tables a DynamoDB request names: its TableName, or its batch's or transaction's."""
    tables = {request.get("TableName")}
    if isinstance(request.get("RequestItems"), dict):
        tables.update(request["RequestItems"])
    for entry in request.get("TransactItems") if isinstance(request.get("TransactItems"), list) else []:
        if isinstance(entry, dict):
            tables.update(spec.get("TableName") for spec in entry.values() if isinstance(spec, dict))
    return tables

class StrictAws(DynamoDbOperations, StrictApi):
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
        self.table_rates = {}  # table name -> its own capacity fields (POST /strict-api/capacity with a table)
        self.partitions = defaultdict(lambda: [0.0, 0])  # (kind, table, partition) -> [units taken, throttled]
        self.holds = {}  # (table, key) -> monotonic time the hold ends
        self.tokens = {}  # ClientRequestToken -> (digest of TransactItems, expiry, Response)
        self.seen = 0
        self.forwarded = None  # moto's answer to the request in hand, once it has one
        self.armed = []  # [operation, table, when, times left], from POST /strict-api/arm
        self.guard = Guard() if config.iam else None  # each function held to its template policy
        self.guard_lock = threading.Lock()  # SQS requests are not serialized
        self.sending = threading.local()  # the SQS send request in hand on this thread: its trace header
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
                self.holds, self.tokens, self.buckets, self.table_rates = {}, {}, {}, {}
                self.partitions.clear()
            service, _, op = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
            response = self.authorize(environ, service, op) or self.faults(environ, service, op)
            if response is None:
                # SQS keeps a send's X-Amzn-Trace-Id header on each message it sends, as the
                # AWSTraceHeader system attribute (X-Ray Developer Guide, "Amazon SQS"): Lambda's
                # recursive-loop detection follows it. moto reads only an explicit attribute.
                tracing = service == "AmazonSQS" and op in ("SendMessage", "SendMessageBatch")
                self.sending.trace_header = environ.get("HTTP_X_AMZN_TRACE_ID") if tracing else None
                try:
                    return self.app(environ, start_response)
                finally:
                    self.sending.trace_header = None
        start_response(response.status, response.headers)
        return [response.body]

    def faults(self, environ, service, op):
        """The injected fault or throttle for a data request, or None to hand it to moto."""
        if service.startswith("DynamoDB_"):
            self.count("requests_dynamodb")
            if self.config.enabled and op in WRITES | READS:
                return self.dynamodb(environ, op)
        elif service == "AmazonSQS":
            self.count("requests_sqs")
            if self.config.enabled and op in SQS_DATA:
                with self.sqs_lock:
                    failed = self.sqs_rng.random() < self.config.server_error_rate
                if failed:
                    self.count("sqs_server_error")
                    return sqs_internal_error()
        return None

    def denied(self, principal, needs, operation):
        """The denial of a request by `principal`, a function whose policy lacks one of `needs`,
        counted; None for one it allows, and for an administrator (`principal` None: the tests'
        setup, `ocpp-bulk init` and `import`)."""
        if principal is None:
            return None
        with self.guard_lock:
            denial = self.guard.check(principal, needs, operation)
        if denial is not None:
            self.count("iam_denied")
        return denial

    def authorize(self, environ, service, op):
        """AccessDenied for a function's DynamoDB, SQS or Secrets Manager request outside its policy
        (scripts/strict_aws/iam.py)."""
        principal = self.guard.principal(environ.get("HTTP_AUTHORIZATION", "")) if self.guard else None
        if principal is None or not (service.startswith("DynamoDB_") or service in ("AmazonSQS", "secretsmanager")):
            return None
        request = _request(environ) if _body(environ) else {}
        if request is None:
            return None  # malformed: AWS would refuse it before authorizing; moto answers it
        _, region = _credential(environ)
        account = get_account_id_from(principal)
        if service == "AmazonSQS":
            needs = sqs_needs(op, request, region)
        elif service == "secretsmanager":
            needs = secretsmanager_needs(op, request, region, account)
        else:

            def hash_key_of(name):
                return getattr(self.table(environ, name), "hash_key_attr", None)

            needs = dynamodb_needs(op, request, region, account, hash_key_of)
        denied = self.denied(principal, needs, op)
        return None if denied is None else access_denied(service, denied)

    def take_armed(self, op, request):
        """When a fault is armed for this operation on a table the request names: "before" or
        "after", used up once. A batch or transaction names its tables in its entries."""
        tables = tables_named(request)
        with self.stats_lock:
            for armed in self.armed:
                if armed[0] == op and armed[1] in tables and armed[3] > 0:
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
        access_key, region = _credential(environ)
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
        applied = not (all_or_nothing and any(verdicts))
        if applied:
            for b, units in taken.items():
                b.tokens -= units
        for (table, partition, units), verdict in zip(charges, verdicts):
            if partition is not None:
                tally = self.partitions[(kind, table, partition)]
                if verdict is None and applied:
                    tally[0] += units
                elif verdict is not None:
                    tally[1] += 1
        for verdict in filter(None, verdicts):
            self.count(verdict)
        return verdicts

    def bucket(self, kind, table, partition, now):
        name = (kind, table, partition)
        if name not in self.buckets:
            c = {**vars(self.config), **self.table_rates.get(table.split("/")[0], {})}
            rates = {"write": ("partition_wcu", "table_wcu"), "read": ("partition_rcu", "table_rcu")}[kind]
            self.buckets[name] = Bucket(c[rates[partition is None]], now)
        return self.buckets[name]

    # --- DynamoDB

    def dynamodb(self, environ, op):
        self.forwarded = None
        request = _request(environ)
        if request is None:
            return self.forward(environ)
        c = self.config
        # Always five draws, so the faults below depend only on the order of requests.
        error, after, throttle, conflict, pick = (self.rng.random() for _ in range(5))
        self.seen += 1
        if self.seen % 1000 == 0:
            now = time.monotonic()
            self.holds = {k: t for k, t in self.holds.items() if t > now}
            self.tokens = {k: v for k, v in self.tokens.items() if v[1] > now}
        armed = self.take_armed(op, request) if isinstance(request, dict) else None
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

    def single_write(self, environ, request, op, attrs):
        name = request["TableName"]
        table = self.table(environ, name)
        if table is None:
            return None
        if self.held(name, self.key(table, attrs), time.monotonic()):
            # A write on an item inside a running transaction is rejected, not queued.
            self.count("write_conflict_held")
            return dynamodb_error("TransactionConflictException", ONGOING)
        charges = self.charges(table, op, request, attrs)
        verdict = next(filter(None, self.admit("write", charges, True)), None)
        if verdict:
            return self.throttled(verdict)
        response = self.forward(environ)
        if not response.ok and b"ConditionalCheckFailedException" in response.body:
            # AWS: a failed condition is still charged to the table, but writes no index entry.
            self.refund("write", charges[1:])
        return response

    def refund(self, kind, charges):
        """Gives back what `admit` took for `charges` (write units of work that was not done)."""
        now = time.monotonic()
        for table, partition, units in charges:
            for bucket in {self.bucket(kind, table, partition, now), self.bucket(kind, table, None, now)}:
                bucket.tokens = min(bucket.rate, bucket.tokens + units)
            self.partitions[(kind, table, partition)][0] -= units

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
    exactly-once: never duplicated. A message without an explicit AWSTraceHeader takes the trace
    header of the request that sends it (`strict.sending`)."""
    backend = sqs_models.SQSBackend
    original = getattr(backend.send_message, "strict_original", backend.send_message)

    def send_message(self, queue_name, message_body, *args, **kwargs):
        header = getattr(strict.sending, "trace_header", None)
        if header and not kwargs.get("system_attributes"):
            kwargs["system_attributes"] = {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
        message = original(self, queue_name, message_body, *args, **kwargs)
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue and strict.duplicate_sqs_send():
            twin = copy.copy(message)
            twin.receipt_handle, twin._old_receipt_handles = None, []
            queue.add_message(twin)
        return message

    send_message.strict_original = original
    backend.send_message = send_message
