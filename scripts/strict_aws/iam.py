"""IAM as AWS enforces it and moto does not: each function's requests held to its policy in template.yaml.

Lambda runs each function with its own execution role; the template grants each role its statements
(`Policies`), and SAM adds the managed policy AWSLambdaSQSQueueExecutionRole to a function with an
`SQS` event (Lambda's event source mapping polls with the function's role: ReceiveMessage,
DeleteMessage, GetQueueAttributes) and AWSLambdaBasicExecutionRole (logs) to every function. A request signed with an
access key id that is a function's logical id (`ApiFunction`, `WorkerFunction`, `WebSocketFunction`:
the local stack signs each function's clients so, `AwsClients::signed_as`) is checked here against
that function's statements; any other key (the tests' own setup, `ocpp-bulk init` and `import`) is an
administrator and passes.

A request needs one authorization per (action, resource) it touches, as AWS evaluates it:
- DynamoDB: `dynamodb:<Operation>` on the table (or `table/<name>/index/<index>` for a Query or Scan of
  an index); BatchGetItem and BatchWriteItem on each table they name; TransactWriteItems needs, per
  item, PutItem, UpdateItem, DeleteItem or ConditionCheckItem on that item's table, and
  TransactGetItems GetItem — there is no `dynamodb:TransactWriteItems` action.
- `dynamodb:LeadingKeys` is the set of partition key values the request touches (one for a single-item
  request, every key of a batch for that table, the key condition's for a Query). A Query whose key
  condition the stand-in cannot read carries the key with its values unknown (None): no grant
  conditioned on it allows the Query, and a Deny conditioned on it applies (fail closed).
- SQS: `sqs:<Operation>`, a batch needing its single action (SendMessageBatch: sqs:SendMessage), on the
  queue's ARN.
- API Gateway's management API (served by `ocpp-bulk serve` itself, which asks here through
  POST /strict-api/authorize): `execute-api:ManageConnections` on
  `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/@connections/ID`.

Resources resolve from the template's intrinsics with the deployment's names left open: a table
`X.Arn` is `arn:aws:dynamodb:*:*:table/*-X` (the tests and `ocpp-bulk init` name tables
`{prefix}-{logical id}`), the queues `*-dispatch` and `*-dispatch-dlq` (`shared/src/aws/tables.rs`),
the WebSocket API and stage `*`. Unknown intrinsics, policy forms or condition operators raise: a new
shape of policy must be taught here rather than pass unchecked.

Patterns match as IAM matches them: `*` and `?` the only wildcards (`[`, `]` literal), action names and
condition key names whatever their case, resources and condition values case-sensitively.
"""

import functools
import re
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# Physical names of the template's queues, as shared/src/aws/tables.rs creates them under a prefix.
QUEUE_NAMES = {"DispatchQueue": "*-dispatch", "DispatchDeadLetterQueue": "*-dispatch-dlq"}
# What SAM grants a function with an SQS event: the managed policy AWSLambdaSQSQueueExecutionRole
# (samtranslator's eventsources/pull.py), which lets the event source mapping poll any queue.
SQS_POLLER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


class Tagged:
    """A CloudFormation intrinsic written in short form (!GetAtt, !Sub, ...)."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load_template(path=TEMPLATE):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


class Resolver:
    """The template's intrinsics, resolved to ARN patterns with the deployment's names left open."""

    def __init__(self, template):
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})

    def arn(self, logical_id):
        kind = self.resources.get(logical_id, {}).get("Type")
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:*:*:table/*-{logical_id}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:*:*:{QUEUE_NAMES[logical_id]}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:*:*:secret:*{logical_id}*"
        raise ValueError(f"iam: no ARN known for {logical_id} ({kind})")

    def ref(self, name):
        """A pseudo parameter, parameter or resource id: the partition is `aws`; a secret's Ref is its
        ARN; anything else (region, account, API id, stage) is left open."""
        if name == "AWS::Partition":
            return "aws"
        if self.resources.get(name, {}).get("Type") == "AWS::SecretsManager::Secret":
            return self.arn(name)
        if name.startswith("AWS::") or name in self.resources or name in self.parameters:
            return "*"
        raise ValueError(f"iam: cannot resolve Ref {name}")

    def value(self, node):
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if isinstance(node, str):
            return node
        if isinstance(node, Tagged):
            if node.tag == "GetAtt":
                target = node.value if isinstance(node.value, str) else ".".join(node.value)
                logical_id, _, attribute = target.partition(".")
                if attribute != "Arn":
                    raise ValueError(f"iam: !GetAtt {target} in a policy")
                return self.arn(logical_id)
            if node.tag == "Ref":
                return self.ref(node.value)
            if node.tag == "Sub" and isinstance(node.value, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.sub(m.group(1)), node.value)
        raise ValueError(f"iam: cannot resolve {node!r} in a policy")

    def sub(self, name):
        logical_id, _, attribute = name.partition(".")
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute:
            raise ValueError(f"iam: ${{{name}}} in a policy")
        return self.ref(name)


def _listed(value):
    return value if isinstance(value, list) else [value]


def policies(template):
    """{function logical id: [statement]} with every resource resolved, SAM's additions included."""
    resolver = Resolver(template)
    functions = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        statements = []
        for policy in _listed(properties.get("Policies", [])):
            if not isinstance(policy, dict) or set(policy) != {"Statement"}:
                raise ValueError(f"iam: {logical_id}: only inline Statement policies are understood: {policy!r}")
            for statement in _listed(policy["Statement"]):
                statements.append(
                    {
                        "Sid": statement.get("Sid", ""),
                        "Effect": statement["Effect"],
                        "Action": _listed(statement["Action"]),
                        "Resource": [r for v in _listed(statement["Resource"]) for r in _listed(resolver.value(v))],
                        "Condition": statement.get("Condition", {}),
                    }
                )
        if any(event.get("Type") == "SQS" for event in properties.get("Events", {}).values()):
            statements.append({"Sid": "SAM:AWSLambdaSQSQueueExecutionRole", "Effect": "Allow",
                               "Action": SQS_POLLER_ACTIONS, "Resource": ["*"], "Condition": {}})
        functions[logical_id] = statements
    return functions


@functools.lru_cache(maxsize=None)
def _wildcard(pattern, ignore_case):
    """`pattern` as a regular expression: `*` any run of characters, `?` any one, all else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(pattern, value, ignore_case=False):
    """Whether `value` matches the IAM pattern `pattern`. IAM has two wildcards and no character
    classes: "You can use wildcard characters (* and ?) within the individual segments of an ARN" to
    represent any combination of characters (*) and any single character (?) (IAM User Guide, "IAM
    JSON policy elements: Resource"); StringLike's values "can include multi-character match wildcards
    (*) and single-character match wildcards (?) anywhere in the string" ("IAM JSON policy elements:
    Condition operators"). `[` and `]` are literal, not fnmatch's character class."""
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def _condition_holds(condition, context):
    """True when every test of `condition` holds for the request's `context`, False when one fails,
    None when none fails but one tests a key whose values the stand-in could not determine (its value
    None in `context`). Key names match whatever their case: "Context key names are not
    case-sensitive. For example, including the aws:SourceIP context key is equivalent to testing for
    AWS:SourceIp" (IAM User Guide, "IAM JSON policy elements: Condition"); values compare as the
    operator does (StringLike: "Case-sensitive matching")."""
    request = {key.lower(): values for key, values in context.items()}
    undetermined = False
    for operator, tests in condition.items():
        if operator != "ForAllValues:StringLike":
            raise ValueError(f"iam: condition operator {operator} is not understood")
        for key, wanted in tests.items():
            wanted = _listed(wanted)
            # ForAllValues holds for a request without the key, as AWS evaluates it (IAM User Guide,
            # "Multivalued context keys"): a Scan carries no dynamodb:LeadingKeys.
            if key.lower() not in request:
                continue
            values = request[key.lower()]
            if values is None:
                undetermined = True
            elif not all(any(_like(w, v) for w in wanted) for v in values):
                return False
    return None if undetermined else True


def granting(statement, action):
    """The action pattern of `statement` that grants `action`, or None. "The prefix and the action name
    are case insensitive" (IAM User Guide, "IAM JSON policy elements: Action"): `dynamodb:getitem` is
    `dynamodb:GetItem`."""
    return next((a for a in statement["Action"] if _like(a, action, ignore_case=True)), None)


def allowed(statements, action, resource, context):
    """Whether `statements` allow `action` on `resource` (an explicit Deny wins), and the statement
    that decided (None when none applies). A condition the stand-in cannot decide (a key's values
    unknown, see `_condition_holds`) fails closed: an Allow does not apply, a Deny does."""
    allowing = None
    for statement in statements:
        if granting(statement, action) is None:
            continue
        if not any(_like(r, resource) for r in statement["Resource"]):
            continue
        holds = _condition_holds(statement["Condition"], context)
        if holds is None:
            holds = statement["Effect"] == "Deny"
        if not holds:
            continue
        if statement["Effect"] == "Deny":
            return False, statement
        allowing = allowing or statement
    return allowing is not None, allowing


# --- what a request needs


def table_arn(region, account, table, index=None):
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def queue_arn(queue_url, region):
    """arn:aws:sqs:REGION:ACCOUNT:NAME from http(s)://host/ACCOUNT/NAME."""
    parts = queue_url.rstrip("/").split("/")
    return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"


def _key_condition_partition(request, hash_key):
    """The partition key value a Query's KeyConditionExpression fixes (`name = :value`, the form
    DynamoDB requires of the partition key), or None when the stand-in cannot read one: another form,
    a placeholder without a value, a table whose key it does not know."""
    names = request.get("ExpressionAttributeNames", {})
    values = request.get("ExpressionAttributeValues", {})
    for name, placeholder in re.findall(r"(#?[\w.]+)\s*=\s*(:\w+)", request.get("KeyConditionExpression", "")):
        if names.get(name, name) == hash_key and placeholder in values:
            return values[placeholder]
    return None


def _scalar(value):
    """A DynamoDB attribute value as its string (S, N or B)."""
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value.values())))
    return str(value)


def dynamodb_needs(op, request, region, account, hash_key_of):
    """[(action, resource, {"dynamodb:LeadingKeys": [...]})] the request needs. `hash_key_of(table)`
    names a table's partition key attribute (None for a table that does not exist)."""

    def leading(table, keys):
        hash_key = hash_key_of(table)
        found = [_scalar(k[hash_key]) for k in keys if hash_key and isinstance(k, dict) and hash_key in k]
        return {"dynamodb:LeadingKeys": sorted(set(found))}

    needs = []
    if op == "BatchGetItem":
        for table, spec in request.get("RequestItems", {}).items():
            needs.append((f"dynamodb:{op}", table_arn(region, account, table), leading(table, spec.get("Keys", []))))
    elif op == "BatchWriteItem":
        for table, writes in request.get("RequestItems", {}).items():
            keys = [w.get("PutRequest", {}).get("Item") or w.get("DeleteRequest", {}).get("Key") for w in writes]
            needs.append((f"dynamodb:{op}", table_arn(region, account, table), leading(table, keys)))
    elif op in ("TransactWriteItems", "TransactGetItems"):
        for entry in request.get("TransactItems", []):
            (kind, spec), = entry.items()
            action = "GetItem" if op == "TransactGetItems" else TRANSACT_ACTIONS[kind]
            table = spec["TableName"]
            needs.append((f"dynamodb:{action}", table_arn(region, account, table),
                          leading(table, [spec.get("Key") or spec.get("Item")])))
    elif "TableName" in request:
        table = request["TableName"]
        index = request.get("IndexName")
        context = {}
        if op == "Query" and not index:
            # AWS evaluates dynamodb:LeadingKeys on the partition key value the key condition fixes;
            # where the stand-in cannot read it, the key's values are unknown (None), never empty:
            # an empty set would let every ForAllValues condition hold (fail open).
            value = _key_condition_partition(request, hash_key_of(table))
            context = {"dynamodb:LeadingKeys": None if value is None else [_scalar(value)]}
        elif op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
            context = leading(table, [request.get("Key") or request.get("Item")])
        needs.append((f"dynamodb:{op}", table_arn(region, account, table, index), context))
    else:
        needs.append((f"dynamodb:{op}", "*", {}))
    return needs


def secretsmanager_needs(op, request, region, account):
    """`secretsmanager:<Operation>` on the secret its SecretId names (an ARN, or a name)."""
    secret = request.get("SecretId", "*")
    if not secret.startswith("arn:"):
        secret = f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"
    return [(f"secretsmanager:{op}", secret, {})]


def sqs_needs(op, request, region):
    action = "sqs:" + BATCH_ACTIONS.get(op, op)
    url = request.get("QueueUrl")
    return [(action, queue_arn(url, region) if url else "*", {})]


class Guard:
    """Holds every function's requests to its statements and keeps what it decided: per function, the
    requests checked and allowed, and every denial (function, action, resource, operation)."""

    def __init__(self, template_path=TEMPLATE):
        self.policies = policies(load_template(template_path))
        self.checked = dict.fromkeys(self.policies, 0)
        self.denials = []  # the first 1,000, in full
        self.denied = 0  # every one
        self.used = set()  # (function, Sid, action pattern) that allowed a request

    def check(self, principal, needs, operation):
        """The first (action, resource) of `needs` that `principal`'s policy does not allow, or None;
        `principal` a function's logical id (see `principal`)."""
        self.checked[principal] += 1
        for action, resource, context in needs:
            ok, statement = allowed(self.policies[principal], action, resource, context)
            if ok:
                self.used.add((principal, statement["Sid"], granting(statement, action)))
            else:
                denial = {"function": principal, "action": action, "resource": resource,
                          "operation": operation, "context": context}
                self.denied += 1
                if len(self.denials) < 1000:
                    self.denials.append(denial)
                return denial
        return None

    def principal(self, authorization):
        """The function a SigV4 Authorization header's access key id names, or None (an administrator)."""
        match = re.search(r"Credential=([^/,\s]+)/", authorization or "")
        key = match.group(1) if match else None
        return key if key in self.policies else None

    def report(self):
        """What was checked and denied, and each granted (function, Sid, action) no request used."""
        unused = [
            {"function": f, "sid": st["Sid"], "action": a}
            for f, statements in self.policies.items()
            for st in statements
            for a in st["Action"]
            if st["Effect"] == "Allow" and (f, st["Sid"], a) not in self.used
        ]
        return {"checked": dict(self.checked), "denied": self.denied, "denials": list(self.denials), "unused": unused}
