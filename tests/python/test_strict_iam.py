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



def query(expression, values, **names):
    """A Query of p-RunsTable (partition key `pk`) as dynamodb_needs sees it: its one need."""
    request = {"TableName": "p-RunsTable", "KeyConditionExpression": expression,
               "ExpressionAttributeValues": {k: {"S": v} for k, v in values.items()}}
    if names:
        request["ExpressionAttributeNames"] = names
    [need] = dynamodb_needs("Query", request, "us-east-1", "123456789012", lambda table: "pk")
    return need


def test_a_query_whose_partition_key_is_unreadable_has_no_leading_keys_grant():
    # AWS evaluates dynamodb:LeadingKeys on the partition key value a Query's key condition fixes
    # (DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained access control"). A
    # key condition the stand-in cannot read leaves that value unknown: no grant conditioned on
    # LeadingKeys may then allow it (fail closed), where an empty key set would let ForAllValues hold.
    worker = policies(load_template())["WorkerFunction"]  # Runs: Query where LeadingKeys RUN#*, WEBHOOK#*
    # The key conditions the functions write (shared/src/aws/runs/) are read, and allowed.
    for expression in ["pk = :pk", "pk = :pk AND begins_with(sk, :chunk)", "pk = :pk AND sk BETWEEN :from AND :to"]:
        need = query(expression, {":pk": "RUN#1", ":chunk": "CHUNK#", ":from": "0", ":to": "9"})
        assert need[2] == {"dynamodb:LeadingKeys": ["RUN#1"]}, expression
        assert allowed(worker, *need)[0] is True, expression
    assert allowed(worker, *query("#p = :v", {":v": "RUN#1"}, **{"#p": "pk"}))[0] is True
    # The same partition where the stand-in cannot read it, and a placeholder with no value: denied.
    assert allowed(worker, *query(":pk = pk", {":pk": "RUN#1"}))[0] is False
    assert allowed(worker, *query("pk = :missing", {":pk": "RUN#1"}))[0] is False
    # A grant with no LeadingKeys condition still allows it; a LeadingKeys-conditioned Deny applies.
    api = policies(load_template())["ApiFunction"]  # WriteRuns: Query on the Runs table, unconditioned
    assert allowed(api, *query(":pk = pk", {":pk": "RUN#1"}))[0] is True
    deny = {"Sid": "d", "Effect": "Deny", "Action": ["dynamodb:Query"], "Resource": ["*"],
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["IDEM#*"]}}}
    ok, statement = allowed(api + [deny], *query(":pk = pk", {":pk": "RUN#1"}))
    assert (ok, statement["Sid"]) == (False, "d")


def test_only_star_and_question_mark_are_wildcards():
    # IAM JSON policy elements: Resource: "You can use wildcard characters (* and ?) within the
    # individual segments of an ARN": `*` any combination of characters, `?` any single character.
    # Condition operators: StringLike values "can include multi-character match wildcards (*) and
    # single-character match wildcards (?) anywhere in the string". Nothing else is a wildcard:
    # `[`, `]` and `!` (character classes to fnmatch) and regular expressions' `.`, `+` are literal.
    def statement(action="dynamodb:GetItem", resource="*", leading=None):
        condition = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": leading}} if leading else {}
        return [{"Sid": "s", "Effect": "Allow", "Action": [action], "Resource": [resource], "Condition": condition}]

    def ok(statements, action="dynamodb:GetItem", resource="arn:aws:dynamodb:r:a:table/t", keys=("K",)):
        return allowed(statements, action, resource, {"dynamodb:LeadingKeys": list(keys)})[0]

    arn = "arn:aws:dynamodb:r:a:table/"
    assert ok(statement(resource=arn + "[ab]-T"), resource=arn + "a-T") is False
    assert ok(statement(resource=arn + "[ab]-T"), resource=arn + "[ab]-T") is True
    assert ok(statement(resource=arn + "[!x]-T"), resource=arn + "a-T") is False
    assert ok(statement(resource=arn + "?-T"), resource=arn + "a-T") is True
    assert ok(statement(resource=arn + "?-T"), resource=arn + "ab-T") is False
    assert ok(statement(resource=arn + "a.+"), resource=arn + "ab") is False
    assert ok(statement(resource=arn + "*"), resource=arn + "t/index/i") is True
    assert ok(statement(action="dynamodb:[GP]utItem"), action="dynamodb:PutItem") is False
    assert ok(statement(action="dynamodb:?etItem")) is True
    assert ok(statement(leading=["RUN#[0-9]*"]), keys=["RUN#1"]) is False
    assert ok(statement(leading=["RUN#[0-9]*"]), keys=["RUN#[0-9]x"]) is True
    assert ok(statement(leading=["RUN#?"]), keys=["RUN#1"]) is True
    assert ok(statement(leading=["RUN#?"]), keys=["RUN#12"]) is False


def test_condition_key_names_and_actions_ignore_case_values_do_not():
    # IAM JSON policy elements: Condition: "Context key names are not case-sensitive. For example,
    # including the aws:SourceIP context key is equivalent to testing for AWS:SourceIp.
    # Case-sensitivity of context key values depends on the condition operator" (StringLike:
    # "Case-sensitive matching"). Action: "The prefix and the action name are case insensitive."
    def statement(key, pattern, action="dynamodb:DeleteItem"):
        return [{"Sid": "s", "Effect": "Allow", "Action": [action], "Resource": ["*"],
                 "Condition": {"ForAllValues:StringLike": {key: [pattern]}}}]

    def ok(statements, keys, action="dynamodb:DeleteItem"):
        return allowed(statements, action, "t", {"dynamodb:LeadingKeys": keys})[0]

    # The key, however written, is the request's dynamodb:LeadingKeys: RUN#1 is outside IDEM#*.
    assert ok(statement("DynamoDB:leadingkeys", "IDEM#*"), ["RUN#1"]) is False
    assert ok(statement("DYNAMODB:LEADINGKEYS", "IDEM#*"), ["IDEM#a"]) is True
    # Values compare case-sensitively under StringLike.
    assert ok(statement("dynamodb:LeadingKeys", "idem#*"), ["IDEM#a"]) is False
    # Actions do not: dynamodb:getitem is dynamodb:GetItem.
    assert ok(statement("dynamodb:LeadingKeys", "IDEM#*", action="DynamoDB:deleteitem"), ["IDEM#a"]) is True
    assert ok(statement("dynamodb:LeadingKeys", "IDEM#*", action="dynamodb:delete*"), ["IDEM#a"],
              action="DYNAMODB:DELETEITEM") is True

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
