"""The strict stand-in's IAM check (scripts/strict_aws/iam.py): a request signed as one of the
template's functions passes only within that function's policy, as AWS evaluates it; anything else
signed is an administrator. boto3 signs as the functions do (access key id = logical id)."""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from test_strict_aws import NO_RETRIES, code_of, strict_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from strict_aws.iam import allowed, dynamodb_needs, load_template, policies  # noqa: E402

PREFIX = "ocpp-bulk-iam"


def as_function(server, service, function):
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=function,
        aws_secret_access_key="local-function-secret",
        config=NO_RETRIES,
    )


def make_tables(ddb):
    for name, range_key in [("RunsTable", True), ("DirectoryTable", False), ("ConnectionsTable", False)]:
        keys = [("pk", "HASH")] + ([("sk", "RANGE")] if range_key else [])
        ddb.create_table(
            TableName=f"{PREFIX}-{name}",
            KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )


def key(pk, sk=None):
    return {"pk": {"S": pk}, **({"sk": {"S": sk}} if sk else {})}


def test_every_function_has_a_policy_that_resolves():
    functions = policies(load_template())
    assert set(functions) == {"ApiFunction", "WorkerFunction", "WebSocketFunction"}
    for name, statements in functions.items():
        assert statements, name
        for statement in statements:
            assert all(r == "*" or r.startswith("arn:aws:") for r in statement["Resource"]), (name, statement)
    # SAM gives the function with SQS events the managed policy of Lambda's queue poller.
    worker = {s["Sid"] for s in functions["WorkerFunction"]}
    assert "SAM:AWSLambdaSQSQueueExecutionRole" in worker


def test_a_transaction_needs_each_items_own_action_on_its_table():
    needs = dynamodb_needs(
        "TransactWriteItems",
        {"TransactItems": [
            {"Put": {"TableName": "p-ConnectionsTable", "Item": key("INFLIGHT#CP1")}},
            {"Update": {"TableName": "p-RunsTable", "Key": key("RUN#1#R0", "000000000001")}},
            {"ConditionCheck": {"TableName": "p-RunsTable", "Key": key("RUN#1", "META")}},
        ]},
        "us-east-1", "123456789012", lambda table: "pk",
    )
    assert [(a, r.rsplit("/", 1)[1], c["dynamodb:LeadingKeys"]) for a, r, c in needs] == [
        ("dynamodb:PutItem", "p-ConnectionsTable", ["INFLIGHT#CP1"]),
        ("dynamodb:UpdateItem", "p-RunsTable", ["RUN#1#R0"]),
        ("dynamodb:ConditionCheckItem", "p-RunsTable", ["RUN#1"]),
    ]


def test_leading_keys_conditions_hold_for_every_key_and_for_none():
    statements = [{"Sid": "s", "Effect": "Allow", "Action": ["dynamodb:DeleteItem"], "Resource": ["*"],
                   "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["IDEM#*"]}}}]
    ok, statement = allowed(statements, "dynamodb:DeleteItem", "t", {"dynamodb:LeadingKeys": ["IDEM#a"]})
    assert (ok, statement["Sid"]) == (True, "s")
    assert allowed(statements, "dynamodb:DeleteItem", "t", {"dynamodb:LeadingKeys": ["IDEM#a", "RUN#b"]})[0] is False
    # As AWS evaluates ForAllValues: a request without the key passes (the IAM guide's warning).
    assert allowed(statements, "dynamodb:DeleteItem", "t", {})[0] is True
    deny = statements + [{"Sid": "d", "Effect": "Deny", "Action": ["dynamodb:*"], "Resource": ["*"], "Condition": {}}]
    ok, statement = allowed(deny, "dynamodb:DeleteItem", "t", {"dynamodb:LeadingKeys": ["IDEM#a"]})
    assert (ok, statement["Sid"]) == (False, "d")


def test_functions_are_held_to_their_policies_and_administrators_are_not():
    with strict_server() as server:
        assert "each function held to its template policy" in server.log
        admin = server.client("dynamodb")
        make_tables(admin)
        sqs = server.client("sqs")
        dispatch = sqs.create_queue(QueueName=f"{PREFIX}-dispatch")["QueueUrl"]
        dead = sqs.create_queue(QueueName=f"{PREFIX}-dispatch-dlq")["QueueUrl"]
        admin.put_item(TableName=f"{PREFIX}-DirectoryTable", Item=key("CHARGER#1"))

        api = as_function(server, "dynamodb", "ApiFunction")
        websocket = as_function(server, "dynamodb", "WebSocketFunction")
        worker = as_function(server, "dynamodb", "WorkerFunction")
        directory, runs = f"{PREFIX}-DirectoryTable", f"{PREFIX}-RunsTable"
        assert code_of(api.get_item, TableName=directory, Key=key("CHARGER#1")) == "ok"
        # The api may not write the directory; the websocket only its STATE# items.
        assert code_of(api.put_item, TableName=directory, Item=key("CHARGER#2")) == "AccessDeniedException"
        update = {"UpdateExpression": "SET x = :x", "ExpressionAttributeValues": {":x": {"S": "y"}}}
        assert code_of(websocket.update_item, TableName=directory, Key=key("STATE#CP1"), **update) == "ok"
        assert code_of(websocket.update_item, TableName=directory, Key=key("TOKEN#x"), **update) == "AccessDeniedException"
        # Idempotency keys are the only Runs items the api may delete.
        assert code_of(api.delete_item, TableName=runs, Key=key("IDEM#alice#k", "IDEM")) == "ok"
        assert code_of(api.delete_item, TableName=runs, Key=key("RUN#1", "META")) == "AccessDeniedException"
        # A batch is checked per table; a transaction per item.
        batch = {runs: [{"PutRequest": {"Item": key("RUN#1#R0", "000000000000")}}]}
        assert code_of(worker.batch_write_item, RequestItems=batch) == "ok"
        assert code_of(websocket.batch_write_item, RequestItems=batch) == "AccessDeniedException"
        # SQS: the api sends to the dispatch queue and nowhere else; the worker's poller reads both.
        api_sqs = as_function(server, "sqs", "ApiFunction")
        assert code_of(api_sqs.send_message, QueueUrl=dispatch, MessageBody="{}") == "ok"
        assert code_of(api_sqs.send_message, QueueUrl=dead, MessageBody="{}") in ("AccessDenied", "AccessDeniedException")
        assert code_of(as_function(server, "sqs", "WorkerFunction").receive_message, QueueUrl=dead) == "ok"
        # Secrets: the worker reads the webhook key, never the cursor key; the websocket function neither.
        secrets = server.client("secretsmanager")
        cursor = secrets.create_secret(Name=f"{PREFIX}-CursorSecret", SecretString="c")["ARN"]
        webhook = secrets.create_secret(Name=f"{PREFIX}-WebhookKey", SecretString="w")["ARN"]
        worker_secrets = as_function(server, "secretsmanager", "WorkerFunction")
        assert code_of(worker_secrets.get_secret_value, SecretId=webhook) == "ok"
        assert code_of(worker_secrets.get_secret_value, SecretId=cursor) == "AccessDeniedException"
        # The administrator (any other key) does anything.
        assert code_of(admin.delete_item, TableName=runs, Key=key("RUN#1", "META")) == "ok"

        report = server.get("/strict-api/iam")
        assert report["enabled"] is True
        assert report["checked"]["ApiFunction"] >= 5 and report["checked"]["WebSocketFunction"] == 3
        assert report["checked"]["WorkerFunction"] == 4
        denied = {(d["function"], d["action"]) for d in report["denials"]}
        assert denied == {
            ("ApiFunction", "dynamodb:PutItem"),
            ("ApiFunction", "dynamodb:DeleteItem"),
            ("ApiFunction", "sqs:SendMessage"),
            ("WebSocketFunction", "dynamodb:UpdateItem"),
            ("WebSocketFunction", "dynamodb:BatchWriteItem"),
            ("WorkerFunction", "secretsmanager:GetSecretValue"),
        }
        assert report["denied"] == server.stats()["iam_denied"] == 6


def test_the_management_api_asks_the_stand_in():
    with strict_server() as server:
        def ask(function, method):
            payload = {
                "authorization": f"AWS4-HMAC-SHA256 Credential={function}/20261203/us-east-1/execute-api/aws4_request",
                "action": "execute-api:ManageConnections",
                "resource": f"arn:aws:execute-api:local:123456789012:local/local/{method}/@connections/abc=",
            }
            request = urllib.request.Request(server.url + "/strict-api/authorize", json.dumps(payload).encode(), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status
            except urllib.error.HTTPError as e:
                return e.code

        assert ask("WorkerFunction", "POST") == 200
        assert ask("WebSocketFunction", "DELETE") == 200
        assert ask("WebSocketFunction", "POST") == 403
        assert ask("ApiFunction", "POST") == 403
        assert ask("testing", "POST") == 200


def test_strict_iam_0_checks_nothing():
    with strict_server(STRICT_IAM=0) as server:
        assert "IAM off" in server.log
        make_tables(server.client("dynamodb"))
        api = as_function(server, "dynamodb", "ApiFunction")
        assert code_of(api.put_item, TableName=f"{PREFIX}-DirectoryTable", Item=key("CHARGER#2")) == "ok"
        assert server.get("/strict-api/iam") == {"enabled": False}


@pytest.mark.parametrize("tag", ["!GetAtt Missing.Arn", "!ImportValue x"])
def test_a_policy_the_guard_cannot_read_fails_loudly(tmp_path, tag):
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Policies:\n"
        f"        - Statement:\n            - Effect: Allow\n              Action: dynamodb:GetItem\n"
        f"              Resource: {tag}\n"
    )
    with pytest.raises(ValueError, match="iam:"):
        policies(load_template(template))
