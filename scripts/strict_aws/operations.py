"""Each DynamoDB data operation under the stand-in's rules: held items, capacity, injected
conflicts, ClientRequestToken replays. A mixin of `middleware.StrictAws`, whose plumbing it uses."""

import hashlib
import json
import re
import time
from collections import defaultdict

from moto.dynamodb.models.dynamo_type import DynamoType

from .answers import _response, _with_payload, dynamodb_error, item_bytes, read_units, transaction_cancelled
from .answers import units_of
from .config import HOT_PARTITION, ONGOING
from .indexes import index_charges

# What shapes a Query's or Scan's answer but not what it reads (and is charged for).
READ_SHAPERS = {"FilterExpression", "ProjectionExpression", "Select", "AttributesToGet", "QueryFilter", "ScanFilter"}


class DynamoDbOperations:
    """Writes are charged as AWS charges them, by the item's size, not the request's: a PutItem or
    UpdateItem by the larger of the item before and after it, a DeleteItem by the item it deletes
    (read-write-operations, "Capacity unit consumption for write operations"); an update's after is
    estimated as its before plus every value the request carries (conditions' too), which as a rule
    errs high. A read is charged by the whole items it reads, whatever it projects or filters out."""

    def PutItem(self, environ, request, *_):
        return self.single_write(environ, request, "Put", request["Item"])

    def DeleteItem(self, environ, request, *_):
        return self.single_write(environ, request, "Delete", request["Key"])

    def UpdateItem(self, environ, request, *_):
        return self.single_write(environ, request, "Update", request["Key"])

    @staticmethod
    def write_charge(op, spec, stored):
        """Write units of one Put, Update, Delete or ConditionCheck (`spec`: its request, or its
        TransactItems entry), given the item as the table holds it (moto's Item, or None)."""
        before = stored.size() if stored is not None else 0
        if op == "Put":
            return units_of(max(item_bytes(spec["Item"]), before))
        if op == "Update":
            return units_of(before + item_bytes(spec.get("ExpressionAttributeValues")))
        return units_of(before)  # a Delete: the item it deletes; a ConditionCheck: the item it checks

    @staticmethod
    def stored_item(table, attrs):
        """The item with `attrs`' key as `table` holds it now (moto's Item), or None."""
        try:
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            return table.get_item(hash_key, range_key)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def stored_bytes(self, table, attrs):
        """The size of the item with `attrs`' key as `table` holds it now (0: there is none)."""
        item = self.stored_item(table, attrs)
        return item.size() if item is not None else 0

    def charges(self, table, op, spec, attrs):
        """(bucket, partition, units) of one Put, Update, Delete or ConditionCheck: the table's, then
        its indexes' (a ConditionCheck writes none)."""
        stored = self.stored_item(table, attrs)
        own = (*self.partition(table, attrs), self.write_charge(op, spec, stored))
        if op == "ConditionCheck":
            return [own]
        return [own, *index_charges(table, op, spec, stored.to_json()["Attributes"] if stored else None)]

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
        specs = [next(iter(entry.items())) for entry in items]  # (Put|Update|Delete|ConditionCheck, spec)
        owners, charges = [], []  # the item each charge is for, and the charge (its indexes' too)
        for i, (_, table, attrs) in enumerate(entries):
            op, spec = specs[i]
            if table is None:
                continue
            mine = self.charges(table, op, spec, attrs)
            owners += [i] * len(mine)
            charges += [(bucket, partition, 2 * units) for bucket, partition, units in mine]
        throttled = {i for i, verdict in zip(owners, self.admit("write", charges, True)) if verdict}
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
                put = "PutRequest" in entry
                attrs = entry["PutRequest"]["Item"] if put else entry["DeleteRequest"]["Key"]
                op, request_of = ("Put", "PutRequest") if put else ("Delete", "DeleteRequest")
                spec = {"TableName": name, **entry[request_of]}
                if self.held(name, self.key(table, attrs), now):
                    self.count("write_conflict_held")
                    unprocessed[name].append(entry)
                elif any(self.admit("write", self.charges(table, op, spec, attrs), True)):
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
        units = read_units(self.stored_bytes(table, request["Key"]), request.get("ConsistentRead", False))
        (verdict,) = self.admit("read", [(*self.partition(table, request["Key"]), units)], True)
        return self.throttled(verdict) if verdict else response

    def Query(self, environ, request, *_):
        table = self.table(environ, request["TableName"])
        response = self.forward(environ)
        if table is None or not response.ok:
            return response
        # A Query or Scan costs the summed size of what it read, rounded up once: every item its key
        # condition (and Limit) reached, before its filter and its projection.
        items = json.loads(response.body).get("Items", [])
        if READ_SHAPERS & request.keys():
            items = self.read_before_shaping(environ, request)
            self.forwarded = response
        units = read_units(sum(map(item_bytes, items)), request.get("ConsistentRead", False))
        name, partition = self.partition(table, items[0] if items else {}, request.get("IndexName"))
        if not (items and request.get("KeyConditionExpression")):
            partition = None  # a Scan, or nothing found: the table's (or index's) bucket alone
        (verdict,) = self.admit("read", [(name, partition, units)], True)
        return self.throttled(verdict) if verdict else response

    Scan = Query

    def read_before_shaping(self, environ, request):
        """The items a Query or Scan read before its filter and projection: the same request without
        them (and without the names and values only they used), asked of moto."""
        bare = {k: v for k, v in request.items() if k not in READ_SHAPERS}
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", bare.get("KeyConditionExpression", "")))
        for field in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            kept = {k: v for k, v in request.get(field, {}).items() if k in used}
            bare.pop(field, None)
            if kept:
                bare[field] = kept
        answer = self.forward(environ, json.dumps(bare).encode())
        return json.loads(answer.body).get("Items", []) if answer.ok else []

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
                units = read_units(self.stored_bytes(table, key), spec.get("ConsistentRead", False))
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
