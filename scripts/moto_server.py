"""moto's server, with each request handled atomically and transactions that scale.

DynamoDB applies a conditional write atomically; moto's threaded server does not lock around its
condition checks, so two racing conditional writes can both succeed there. The contract tests race
writes on purpose, so this runs moto's own WSGI application behind one lock: requests still arrive
on many connections (keep-alive, threads) but are applied one at a time, as DynamoDB's per-item
atomicity promises.

moto's TransactWriteItems also backs up every table it touches with a deep copy of the whole
table, so one transaction costs O(table size): a 2,000-charger run would take minutes. Here the
backup holds only the items the transaction addresses (the only ones it can change), and a failed
transaction restores exactly those; conditions, cancellation reasons and all-or-nothing stay moto's.
Likewise moto's Query sorts the whole table to find one partition: here it reads that partition.

In front of moto sits strict_aws.StrictAws, a strict stand-in for AWS configured from the STRICT_*
variables (STRICT_AWS=0 turns it off): throttling, transaction conflicts, 500s, duplicate SQS
deliveries and ClientRequestToken idempotency, as AWS has them and moto does not.

Usage: python moto_server.py PORT
"""

import collections
import copy
import gc
import sys
import threading
import time

import moto.dynamodb.models as dynamodb_models
import moto.sqs.models as sqs_models

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from strict_aws import Config, StrictAws
from werkzeug.serving import run_simple


class FirstComeFirstServed:
    """A lock handed to its waiters in the order they came. threading.Lock lets any waiter win: with
    a thousand of the worker's requests queued (a 150,000-id run being created), a run's GET could
    lose any number of times; here each request waits only for those that came before it."""

    def __init__(self):
        self.guard = threading.Lock()
        self.busy = False
        self.waiting = collections.deque()

    def __enter__(self):
        with self.guard:
            if not self.busy:
                self.busy = True
                return
            turn = threading.Lock()
            turn.acquire()
            self.waiting.append(turn)
        turn.acquire()  # released by the holder before us: the lock is ours

    def __exit__(self, *_):
        with self.guard:
            if self.waiting:
                self.waiting.popleft().release()
            else:
                self.busy = False


class Serialized:
    """One DynamoDB request at a time, in the order they came (StrictAws, inside, relies on it).
    moto's TransactWriteItems deep-copies what it touches (its rollback backup); the copies hold
    reference cycles, so a full collection is forced every few hundred requests to keep memory flat,
    but forced ones take at most 5% of the time: with 150,000 items stored, one takes a third of a second."""

    def __init__(self, app):
        self.app = app
        self.lock = FirstComeFirstServed()
        self.handled = 0
        self.next_collection = 0.0

    def __call__(self, environ, start_response):
        # Only DynamoDB needs atomic conditional writes; SQS long polls must not hold the lock.
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            body = list(self.app(environ, start_response))
            self.handled += 1
            if self.handled % 500 == 0 and time.monotonic() >= self.next_collection:
                started = time.monotonic()
                gc.collect()
                ended = time.monotonic()
                self.next_collection = ended + 20 * (ended - started)
            return body


class _TableBackupIsLive:
    """Stands in for the `copy` module inside moto's DynamoDB models: a Table is "copied" as
    itself (the per-item backup below replaces the whole-table one); everything else is copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, dynamodb_models.Table):
            return value
        return copy.deepcopy(value, memo)


def _item_keys(backend, transact_items):
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.get_table(op["TableName"])
        if "Key" in op:
            yield op["TableName"], op["Key"]
        else:
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            yield op["TableName"], key


def _transact_write_items(original):
    def transact(self, transact_items):
        try:
            before = [(name, key, copy.deepcopy(self.get_item(name, key))) for name, key in _item_keys(self, transact_items)]
        except Exception:
            before = []  # a malformed request: moto raises its own error before writing anything
        try:
            return original(self, transact_items)
        except Exception:
            for name, key, item in reversed(before):
                if item is None:
                    self.delete_item(name, key)
                else:
                    self.put_item(name, item.to_json()["Attributes"], overwrite=True)
            raise

    return transact


dynamodb_models.copy = _TableBackupIsLive
dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items(
    dynamodb_models.DynamoDBBackend.transact_write_items
)


def _query_reads_its_partition(original):
    """moto's Query on a table's own key gathers its candidates from `Table.all_items()`, which sorts
    every item of the table, then keeps one partition's: with a 150,000-result run stored, moto served
    about two requests a second. For the duration of such a Query (requests are serialized)
    `all_items` is that partition's items; moto sorts them by range key afterwards as before, so
    results, order and pages stay moto's. A Query on an index is left as it was (its ties keep
    moto's order)."""

    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        held = self.items.get(hash_key)  # `get`: moto's items are a defaultdict
        if held is None:
            candidates = []
        else:
            candidates = list(held.values()) if self.range_key_attr else [held]
        self.all_items = lambda: candidates
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    return query


dynamodb_models.Table.query = _query_reads_its_partition(dynamodb_models.Table.query)


_sending = threading.local()
_queue_attributes = sqs_models.Queue.attributes


def _attributes(queue):
    """moto's SendMessage reads one attribute (ContentBasedDeduplication) through `Queue.attributes`,
    which also counts every message in the queue three times over (the approximate counts): with
    20,000 messages queued, each send scanned 60,000. While sending, only that attribute is built."""
    if getattr(_sending, "active", False):
        if queue.fifo_queue:
            return {"ContentBasedDeduplication": str(bool(getattr(queue, "content_based_deduplication", False))).lower()}
        return {}
    return _queue_attributes.fget(queue)


def _send_message(original):
    def send(self, *args, **kwargs):
        _sending.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _sending.active = False

    return send


def _unix_time_millis(when=None):
    """moto's SQS asks the time twice per message on every receive (visible? delayed?), through
    datetime round trips: the same value from time.time(), an order of magnitude cheaper."""
    return time.time() * 1000.0 if when is None else _moto_unix_time_millis(when)


_moto_unix_time_millis = sqs_models.unix_time_millis
sqs_models.unix_time_millis = _unix_time_millis
def _is_message_valid_based_on_retention_period(self, queue_name, message):
    """The same check as moto's, which builds every queue attribute (three full scans) for each
    message a receive looks at: O(n²) per receive. Only the retention period is read here."""
    queue = self.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time()


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _is_message_valid_based_on_retention_period
sqs_models.Queue.attributes = property(_attributes)
sqs_models.SQSBackend.send_message = _send_message(sqs_models.SQSBackend.send_message)


if __name__ == "__main__":
    port = int(sys.argv[1])
    config = Config.from_env()
    print(config.describe(), flush=True)
    app = StrictAws(DomainDispatcherApplication(create_backend_app), config)
    run_simple("127.0.0.1", port, Serialized(app), threaded=True, request_handler=MotoRequestHandler)
