"""The stand-in's settings (STRICT_* variables), the operations it handles, and its counters."""

import dataclasses
import os

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
    "iam_denied",  # a function's request outside its template policy (AccessDenied; iam.py)
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
# The settings POST /strict-api/capacity may change while the stand-in runs (a test's own scale).
CAPACITY = ("partition_wcu", "partition_rcu", "table_wcu", "table_rcu")
ONGOING = "Transaction is ongoing for the item"


@dataclasses.dataclass(frozen=True)
class Config:
    """Each field is read from STRICT_<FIELD NAME> (enabled: STRICT_AWS, 0 turns everything off)."""

    enabled: bool = True
    # Each function's requests held to its policy in template.yaml (STRICT_IAM=0 turns it off); not a
    # fault, so STRICT_AWS=0 leaves it on.
    iam: bool = True
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
        iam = "each function held to its template policy" if self.iam else "IAM off (STRICT_IAM=0)"
        if not self.enabled:
            return f"strict-aws: off (STRICT_AWS=0): plain moto, DynamoDB requests serialised; {iam}"
        fields = " ".join(f"{f.name}={getattr(self, f.name):g}" for f in dataclasses.fields(self)[2:])
        return f"strict-aws: on {fields}; {iam}"
