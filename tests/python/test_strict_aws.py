"""scripts/moto_server.py's strict stand-in for AWS (scripts/strict_aws/), through boto3.

Each test starts the server on a free loopback port with its own STRICT_* settings (every injected
rate 0 unless the test is about it) and talks to it as a client of AWS would; boto3's own retries
are off so that every fault shows.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
QUIET = {
    "STRICT_TRANSACTION_CONFLICT_RATE": "0",
    "STRICT_THROTTLE_RATE": "0",
    "STRICT_SERVER_ERROR_RATE": "0",
    "STRICT_SQS_DUPLICATE_RATE": "0",
}
# botocore's "max_attempts" counts retries after the first attempt; "total_max_attempts" counts them all.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


class Server:
    def __init__(self, url, log):
        self.url, self.log = url, log

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=NO_RETRIES,
        )

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.loads(response.read())

    def post(self, path, payload):
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def stats(self):
        return self.get("/strict-api/stats")

    def faults(self):
        return {k: v for k, v in self.stats().items() if v and not k.startswith("requests_")}


@contextlib.contextmanager
def strict_server(**settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRICT_")}
    env.update(QUIET, **{k: str(v) for k, v in settings.items()})
    with tempfile.TemporaryFile("w+") as log:
        command = [sys.executable, str(ROOT / "scripts" / "moto_server.py"), str(port)]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(150):
                try:
                    urllib.request.urlopen(url + "/moto-api/", timeout=1)
                    break
                except OSError:
                    assert proc.poll() is None, "moto_server.py exited"
                    time.sleep(0.1)
            log.seek(0)
            yield Server(url, log.readline().strip())
        finally:
            proc.terminate()
            proc.wait(10)


def make_table(ddb, name="t", range_key=False):
    keys = [("pk", "HASH")] + ([("sk", "RANGE")] if range_key else [])
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )


def code_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def put(pk, **attrs):
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}, **attrs}}}


def add(pk, n, **extra):
    return {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": "ADD c :n",
            "ExpressionAttributeValues": {":n": {"N": str(n)}},
            **extra,
        }
    }


def test_held_item_cancels_other_transactions_and_writes_until_the_hold_passes():
    with strict_server(STRICT_TRANSACTION_HOLD_MS=500) as server:
        assert server.log.startswith("strict-aws: on ") and "transaction_hold_ms=500" in server.log
        ddb = server.client("dynamodb")
        make_table(ddb)
        ddb.transact_write_items(TransactItems=[put("a"), put("b")])

        with pytest.raises(ClientError) as cancelled:
            ddb.transact_write_items(TransactItems=[put("c"), add("b", 1)])
        error = cancelled.value.response
        assert error["Error"]["Code"] == "TransactionCanceledException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.0"
        assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "TransactionConflict"]
        assert error["CancellationReasons"][1]["Message"] == "Transaction is ongoing for the item"
        assert error["Error"]["Message"] == (
            "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]"
        )
        conflict = code_of(ddb.put_item, TableName="t", Item={"pk": {"S": "a"}, "v": {"S": "x"}})
        assert conflict == "TransactionConflictException"
        assert "Item" in ddb.get_item(TableName="t", Key={"pk": {"S": "a"}}, ConsistentRead=True)  # reads never wait
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "c"}})  # the cancelled one wrote nothing

        time.sleep(0.6)
        ddb.transact_write_items(TransactItems=[put("c"), add("b", 1)])
        time.sleep(0.6)
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "v": {"S": "x"}})
        assert server.faults() == {"transaction_conflict_held": 1, "write_conflict_held": 1}


def test_client_request_token_replays_without_applying_again():
    with strict_server(STRICT_TRANSACTION_HOLD_MS=1000, STRICT_TRANSACTION_TOKEN_TTL_SECONDS=1) as server:
        ddb = server.client("dynamodb")
        make_table(ddb)

        def counter():
            return ddb.get_item(TableName="t", Key={"pk": {"S": "n"}}, ConsistentRead=True)["Item"]["c"]["N"]

        ddb.transact_write_items(TransactItems=[add("n", 1)], ClientRequestToken="tok-1")
        ddb.transact_write_items(TransactItems=[add("n", 1)], ClientRequestToken="tok-1")  # inside its own hold
        assert counter() == "1"
        assert code_of(ddb.transact_write_items, TransactItems=[add("n", 2)], ClientRequestToken="tok-1") == (
            "IdempotentParameterMismatchException"
        )
        assert counter() == "1"
        assert server.faults() == {"token_replayed": 1, "token_mismatch": 1}

        time.sleep(1.1)  # past the token's window (and the hold): a new request
        ddb.transact_write_items(TransactItems=[add("n", 1)], ClientRequestToken="tok-1")
        assert counter() == "2"


def test_partition_buckets_throttle_and_batches_return_unprocessed():
    with strict_server(STRICT_PARTITION_WCU=2, STRICT_PARTITION_RCU=2) as server:
        ddb = server.client("dynamodb")
        make_table(ddb, range_key=True)

        def item(sk, pk="hot"):
            return {"pk": {"S": pk}, "sk": {"S": str(sk)}}

        codes = [code_of(ddb.put_item, TableName="t", Item=item(i)) for i in range(4)]
        assert codes[:2] == ["ok"] * 2 and "ProvisionedThroughputExceededException" in codes[2:]
        ddb.put_item(TableName="t", Item=item(0, pk="cold"))  # another partition has its own bucket

        time.sleep(1.1)  # the bucket refills: two writes' worth
        batch = ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": item(i)}} for i in range(10, 15)]})
        assert len(batch["UnprocessedItems"]["t"]) == 3
        batch = {"t": [{"PutRequest": {"Item": item(i)}} for i in range(20, 23)]}
        assert code_of(ddb.batch_write_item, RequestItems=batch) == "ProvisionedThroughputExceededException"

        time.sleep(1.1)  # a transactional write costs double: the second item no longer fits
        with pytest.raises(ClientError) as cancelled:
            ddb.transact_write_items(
                TransactItems=[{"Put": {"TableName": "t", "Item": item(i)}} for i in (30, 31)]
            )
        assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == ["None", "ThrottlingError"]

        time.sleep(1.1)  # reads: two strongly consistent reads a second
        got = ddb.batch_get_item(RequestItems={"t": {"Keys": [item(i) for i in range(4)], "ConsistentRead": True}})
        assert len(got["Responses"]["t"]) == 2 and len(got["UnprocessedKeys"]["t"]["Keys"]) == 2
        assert got["UnprocessedKeys"]["t"]["ConsistentRead"] is True
        throttled = code_of(ddb.get_item, TableName="t", Key=item(0), ConsistentRead=True)
        assert throttled == "ProvisionedThroughputExceededException"
        assert server.faults()["partition_throttled"] >= 1 + 3 + 3 + 1 + 2 + 1


def test_index_writes_are_charged_to_the_index_partition_and_throttle_the_table_write():
    # AWS writes an index entry when a write changes what the index keys on or projects (two when
    # it moves the entry to another key), and throttles the table's write when its index cannot
    # take it; an index partition takes what a table's does.
    with strict_server(STRICT_PARTITION_WCU=3) as server:
        ddb = server.client("dynamodb")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "team")],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "online",
                    "KeySchema": [{"AttributeName": "team", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["model"]},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )

        def connect(pk):
            return code_of(
                ddb.update_item,
                TableName="t",
                Key={"pk": {"S": pk}},
                UpdateExpression="SET #team = :team, seen = :seen",
                ExpressionAttributeNames={"#team": "team"},
                ExpressionAttributeValues={":team": {"S": "acme"}, ":seen": {"S": pk}},
            )

        # Each charger has a partition of its own; the index has one, "acme", and takes 3 a second.
        assert [connect(f"cp{i}") for i in range(4)] == ["ok"] * 3 + ["ProvisionedThroughputExceededException"]
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "cp3"}}), "throttled, not applied"
        (row,) = server.get("/strict-api/partitions?match=acme")["partitions"]
        assert (row["table"], row["units"], row["throttled"]) == ("t/online", 3, 1)

        time.sleep(1.1)
        # Nothing the index holds changes: no index write, however often.
        seen = {"UpdateExpression": "SET seen = :s", "ExpressionAttributeValues": {":s": {"S": "later"}}}
        for i in range(3):
            assert code_of(ddb.update_item, TableName="t", Key={"pk": {"S": f"cp{i}"}}, **seen) == "ok"
        (row,) = server.get("/strict-api/partitions?match=acme")["partitions"]
        assert row["units"] == 3, "no index write"
        # Leaving the index (REMOVE of its key) is a write of it; so is a projected attribute.
        gone = {"UpdateExpression": "REMOVE #team", "ExpressionAttributeNames": {"#team": "team"}}
        assert code_of(ddb.update_item, TableName="t", Key={"pk": {"S": "cp0"}}, **gone) == "ok"
        model = {"UpdateExpression": "SET model = :m", "ExpressionAttributeValues": {":m": {"S": "X"}}}
        assert code_of(ddb.update_item, TableName="t", Key={"pk": {"S": "cp1"}}, **model) == "ok"
        assert code_of(ddb.delete_item, TableName="t", Key={"pk": {"S": "cp2"}}) == "ok"
        assert connect("cp4") == "ProvisionedThroughputExceededException", "the index's second is spent"

        time.sleep(1.1)
        (before,) = server.get("/strict-api/partitions?match=acme")["partitions"]
        refused = code_of(
            ddb.update_item,
            TableName="t",
            Key={"pk": {"S": "cp5"}},
            UpdateExpression="SET #team = :team",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#team": "team"},
            ExpressionAttributeValues={":team": {"S": "acme"}},
        )
        assert refused == "ConditionalCheckFailedException"
        (after,) = server.get("/strict-api/partitions?match=acme")["partitions"]
        assert after["units"] == before["units"], "a failed condition writes no index entry"
        assert [connect(f"cp{i}") for i in (6, 7, 8)] == ["ok"] * 3, "nor takes the index's units"


def test_one_table_is_scaled_down_alone():
    with strict_server() as server:
        ddb = server.client("dynamodb")
        make_table(ddb)
        make_table(ddb, "other")
        assert server.post("/strict-api/capacity", {"table": "t", "partition_wcu": 2})["partition_wcu"] == 2
        put = {"Item": {"pk": {"S": "hot"}}}
        assert [code_of(ddb.put_item, TableName="t", **put) for _ in range(3)][2] == "ProvisionedThroughputExceededException"
        assert {code_of(ddb.put_item, TableName="other", **put) for _ in range(5)} == {"ok"}, "the default elsewhere"


def test_writes_and_reads_are_charged_by_the_items_size_not_the_requests():
    # AWS charges an UpdateItem by the larger of the item before and after it, a DeleteItem by the
    # item, a read by the whole item whatever it projects: a small update of a 15 KB item is 15 units.
    with strict_server() as server:
        ddb = server.client("dynamodb")
        make_table(ddb, range_key=True)
        key = {"pk": {"S": "big"}, "sk": {"S": "1"}}

        def units(kind):
            rows = server.get("/strict-api/partitions?match=big")["partitions"]
            return sum(row["units"] for row in rows if row["kind"] == kind)

        ddb.put_item(TableName="t", Item={**key, "answer": {"S": "x" * 15_000}})
        assert units("write") == 15
        ddb.update_item(TableName="t", Key=key, UpdateExpression="SET s = :s", ExpressionAttributeValues={":s": {"S": "ok"}})
        assert units("write") == 30
        ddb.transact_write_items(TransactItems=[{"Update": {
            "TableName": "t", "Key": key, "UpdateExpression": "SET s = :s",
            "ExpressionAttributeValues": {":s": {"S": "again"}}}}])
        assert units("write") == 60  # twice, in a transaction
        ddb.get_item(TableName="t", Key=key, ProjectionExpression="s", ConsistentRead=True)
        assert units("read") == 4  # 15 KB: four 4 KB reads, though it returned two bytes
        found = ddb.query(TableName="t", KeyConditionExpression="pk = :pk", FilterExpression="#s = :no",
                          ExpressionAttributeNames={"#s": "s"},
                          ExpressionAttributeValues={":pk": {"S": "big"}, ":no": {"S": "never"}}, ConsistentRead=True)
        assert found["Items"] == [] and units("read") == 8  # a Query pays for what it read, filtered out or not
        time.sleep(0.05)  # past the transaction's hold on the item
        ddb.delete_item(TableName="t", Key=key)
        assert units("write") == 75
        server.post("/strict-api/reset", {})
        assert server.get("/strict-api/partitions")["partitions"] == []


def test_capacity_set_while_running_scales_the_partitions():
    with strict_server() as server:
        ddb = server.client("dynamodb")
        make_table(ddb, range_key=True)
        assert server.post("/strict-api/capacity", {"partition_wcu": 2})["partition_wcu"] == 2
        codes = [code_of(ddb.put_item, TableName="t", Item={"pk": {"S": "hot"}, "sk": {"S": str(i)}}) for i in range(4)]
        assert codes[:2] == ["ok"] * 2 and "ProvisionedThroughputExceededException" in codes[2:]
        (row,) = server.get("/strict-api/partitions?match=hot")["partitions"]
        assert row["units"] == 2 and row["throttled"] >= 1
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.post("/strict-api/capacity", {"partition_wcu": 0})
        assert refused.value.code == 400


def test_table_bucket_throttles_with_throttling_exception():
    with strict_server(STRICT_TABLE_WCU=2) as server:
        ddb = server.client("dynamodb")
        make_table(ddb)
        codes = [code_of(ddb.put_item, TableName="t", Item={"pk": {"S": f"k{i}"}}) for i in range(4)]
        assert codes[:2] == ["ok"] * 2 and "ThrottlingException" in codes[2:]
        assert server.faults()["table_throttled"] >= 1


def test_server_errors_half_of_writes_after_applying_and_sqs_too():
    with strict_server(STRICT_SERVER_ERROR_RATE=1) as server:
        ddb, sqs = server.client("dynamodb"), server.client("sqs")
        make_table(ddb)  # setup is never faulted
        for i in range(20):
            with pytest.raises(ClientError) as failed:
                ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}})
            assert failed.value.response["Error"]["Code"] == "InternalServerError"
            assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        stats = server.stats()
        assert stats["server_error_before"] + stats["server_error_after"] == 20
        assert stats["server_error_before"] > 0 and stats["server_error_after"] > 0
        # Every write answered 500 after it was applied is there; none answered before.
        assert len(server.get("/moto-api/data.json")["dynamodb"]["Item"]) == stats["server_error_after"]

        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        assert sqs.list_queues()["QueueUrls"] == [url]
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        with pytest.raises(ClientError) as failed:
            sqs.send_message(QueueUrl=url, MessageBody="x")
        assert failed.value.response["Error"]["Code"] == "InternalError"
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert code_of(sqs.receive_message, QueueUrl=url) == "InternalError"
        assert server.stats()["sqs_server_error"] == 2


def test_armed_faults_fail_the_next_requests_of_one_operation_on_one_table():
    with strict_server() as server:
        ddb = server.client("dynamodb")
        make_table(ddb)
        make_table(ddb, "other")
        server.post("/strict-api/arm", {"operation": "UpdateItem", "table": "t", "when": "after", "times": 2})
        server.post("/strict-api/arm", {"operation": "GetItem", "table": "t", "when": "before"})
        assert code_of(ddb.update_item, **add("a", 1)["Update"]) == "InternalServerError"
        assert code_of(ddb.update_item, **{**add("a", 1)["Update"], "TableName": "other"}) == "ok", "another table"
        assert code_of(ddb.put_item, TableName="t", Item={"pk": {"S": "b"}}) == "ok", "another operation"
        assert code_of(ddb.update_item, **add("a", 1)["Update"]) == "InternalServerError"
        assert code_of(ddb.get_item, TableName="t", Key={"pk": {"S": "a"}}) == "InternalServerError"
        # Both armed updates were applied before their 500; the arms are used up.
        assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["c"] == {"N": "2"}
        assert code_of(ddb.update_item, **add("a", 1)["Update"]) == "ok"
        assert server.faults() == {"server_error_after": 2, "server_error_before": 1}
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.post("/strict-api/arm", {"operation": "CreateTable", "table": "t", "when": "after"})
        assert refused.value.code == 400


def test_armed_faults_find_the_tables_a_batch_or_transaction_names():
    with strict_server() as server:
        ddb = server.client("dynamodb")
        make_table(ddb)
        make_table(ddb, "other")
        server.post("/strict-api/arm", {"operation": "BatchWriteItem", "table": "t", "when": "before"})
        server.post("/strict-api/arm", {"operation": "TransactWriteItems", "table": "t", "when": "after"})
        elsewhere = {"other": [{"PutRequest": {"Item": {"pk": {"S": "o"}}}}]}
        assert code_of(ddb.batch_write_item, RequestItems=elsewhere) == "ok", "another table"
        both = {**elsewhere, "t": [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]}
        assert code_of(ddb.batch_write_item, RequestItems=both) == "InternalServerError"
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "b"}}), "refused before it was applied"
        assert code_of(ddb.transact_write_items, TransactItems=[put("x")]) == "InternalServerError"
        assert "Item" in ddb.get_item(TableName="t", Key={"pk": {"S": "x"}}), "applied before its 500"
        assert server.faults() == {"server_error_after": 1, "server_error_before": 1}


def test_sqs_duplicate_rate_one_delivers_every_message_twice():
    with strict_server(STRICT_SQS_DUPLICATE_RATE=1) as server:
        sqs = server.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="one")
        batch = [{"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three"}]
        sqs.send_message_batch(QueueUrl=url, Entries=batch)
        received = []
        for _ in range(5):
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            received += answer.get("Messages", [])
        assert sorted(m["Body"] for m in received) == ["one", "one", "three", "three", "two", "two"]
        by_id = {}
        for m in received:
            by_id.setdefault(m["MessageId"], []).append(m)
        assert sorted(len(copies) for copies in by_id.values()) == [2, 2, 2]  # the same message, twice
        assert len({m["ReceiptHandle"] for m in received}) == 6
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
        deleted = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        assert len(deleted["Successful"]) == 6
        assert server.faults() == {"sqs_duplicated": 3}


def test_a_sends_trace_header_is_kept_on_each_of_its_messages():
    """SQS keeps the X-Amzn-Trace-Id header of a SendMessage or SendMessageBatch on each message as
    its AWSTraceHeader (what Lambda's recursive-loop detection follows); moto alone keeps only an
    explicit attribute."""
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=ocpp-bulk:3"
    with strict_server() as server:
        sqs = server.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="untraced")
        traced = server.client("sqs")
        traced.meta.events.register("before-sign.sqs.*", lambda request, **_: request.headers.add_header("X-Amzn-Trace-Id", header))
        traced.send_message(QueueUrl=url, MessageBody="one")
        traced.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three"}])
        received = []
        for _ in range(5):
            answer = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, MessageSystemAttributeNames=["All"]
            )
            received += answer.get("Messages", [])
        headers = {m["Body"]: m.get("Attributes", {}).get("AWSTraceHeader") for m in received}
        assert headers == {"untraced": None, "one": header, "two": header, "three": header}


def run_faulty_workload(seed):
    rates = {"STRICT_TRANSACTION_CONFLICT_RATE": 0.3, "STRICT_THROTTLE_RATE": 0.2, "STRICT_SERVER_ERROR_RATE": 0.2}
    with strict_server(STRICT_SEED=seed, STRICT_TRANSACTION_HOLD_MS=0, **rates) as server:
        ddb = server.client("dynamodb")
        make_table(ddb)
        outcomes = []
        for i in range(40):
            if i % 2:
                outcomes.append(code_of(ddb.transact_write_items, TransactItems=[put(f"t{i}a"), put(f"t{i}b")]))
            else:
                outcomes.append(code_of(ddb.put_item, TableName="t", Item={"pk": {"S": f"p{i}"}}))
        return outcomes, server.faults()


def test_same_seed_gives_the_same_faults():
    first, second, other = run_faulty_workload(11), run_faulty_workload(11), run_faulty_workload(12)
    assert first == second
    assert other != first
    outcomes, faults = first
    assert {"ok", "InternalServerError", "TransactionCanceledException"} <= set(outcomes)
    assert {"ThrottlingException", "ProvisionedThroughputExceededException"} & set(outcomes)
    assert set(faults) >= {"transaction_conflict_injected", "throttle_injected"}


def test_strict_aws_0_injects_nothing():
    everything = {
        "STRICT_TRANSACTION_CONFLICT_RATE": 1,
        "STRICT_THROTTLE_RATE": 1,
        "STRICT_SERVER_ERROR_RATE": 1,
        "STRICT_SQS_DUPLICATE_RATE": 1,
        "STRICT_PARTITION_WCU": 1,
        "STRICT_TABLE_WCU": 1,
        "STRICT_TRANSACTION_HOLD_MS": 10000,
    }
    with strict_server(STRICT_AWS=0, **everything) as server:
        assert server.log.startswith("strict-aws: off")
        ddb, sqs = server.client("dynamodb"), server.client("sqs")
        make_table(ddb)
        for _ in range(3):
            ddb.transact_write_items(TransactItems=[add("n", 1)])
            ddb.put_item(TableName="t", Item={"pk": {"S": "m"}})
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 1
        stats = server.stats()
        assert server.faults() == {}
        assert stats["requests_dynamodb"] == 7 and stats["requests_sqs"] == 3


def moto_like_workload(server):
    """Every DynamoDB call the project makes, and their usual failures; each answer without its metadata."""
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    def item(pk, sk, **attrs):
        return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attrs.items()}}

    def answer(call, **kwargs):
        try:
            response = call(**kwargs)
            response.pop("ResponseMetadata")
            return response
        except ClientError as e:
            return {k: v for k, v in e.response.items() if k != "ResponseMetadata"}

    absent = "attribute_not_exists(pk)"
    calls = [
        (ddb.put_item, dict(TableName="t", Item=item("a", "1", g="x"))),
        (ddb.put_item, dict(TableName="t", Item=item("a", "1"), ConditionExpression=absent)),
        (ddb.update_item, dict(TableName="t", Key=item("a", "2"), UpdateExpression="SET g = :g",
                               ExpressionAttributeValues={":g": {"S": "x"}}, ReturnValues="ALL_NEW")),
        (ddb.get_item, dict(TableName="t", Key=item("a", "1"), ConsistentRead=True)),
        (ddb.get_item, dict(TableName="nope", Key=item("a", "1"))),
        (ddb.query, dict(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})),
        (ddb.query, dict(TableName="t", IndexName="by_g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "x"}})),
        (ddb.scan, dict(TableName="t")),
        (ddb.batch_write_item, dict(RequestItems={"t": [{"PutRequest": {"Item": item("b", "1")}},
                                                        {"DeleteRequest": {"Key": item("a", "2")}}]})),
        (ddb.batch_get_item, dict(RequestItems={"t": {"Keys": [item("a", "1"), item("z", "9")]}})),
        (ddb.transact_write_items, dict(TransactItems=[
            {"ConditionCheck": {"TableName": "t", "Key": item("b", "1"), "ConditionExpression": absent}},
            {"Put": {"TableName": "t", "Item": item("c", "1")}}])),
        (ddb.transact_write_items, dict(TransactItems=[{"Delete": {"TableName": "t", "Key": item("b", "1")}}],
                                        ClientRequestToken="once")),
        (ddb.transact_write_items, dict(TransactItems=[{"Put": {"TableName": "nope", "Item": item("c", "1")}}])),
        (ddb.delete_item, dict(TableName="t", Key=item("a", "1"), ReturnValues="ALL_OLD")),
        (ddb.scan, dict(TableName="t")),
    ]
    return [answer(call, **kwargs) for call, kwargs in calls]


def test_without_faults_it_answers_like_moto():
    with strict_server(STRICT_AWS=0) as plain:
        expected = moto_like_workload(plain)
    with strict_server(STRICT_TRANSACTION_HOLD_MS=0) as strict:
        assert moto_like_workload(strict) == expected
        assert strict.faults() == {}
    assert expected[1]["Error"]["Code"] == "ConditionalCheckFailedException"
    assert [r["Code"] for r in expected[10]["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
