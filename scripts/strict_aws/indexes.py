"""What a write costs a table's global secondary indexes. AWS writes an index entry whenever the
item's write changes an attribute the index keys on or projects, and changing the index's key takes
two index writes, a delete and a put (GSI.html#GSI.Writes); an index partition has the same
throughput as a table's, and a write its index cannot take is throttled on the table. The stand-in
charges each index write to the index's partition (`partition` names it `{table}/{index}`), in the
same all-or-nothing admission as the table's own write.

An update's effect is read from its expression, not applied: `SET a = :v` gives `a` the value `:v`;
any other change of `a` (a function, arithmetic, a nested path, ADD, DELETE) counts as a change to a
value not known here, which as a rule errs high (an index write charged that AWS might not make)."""

import json
import re

from .answers import item_bytes, units_of

CHANGED = object()  # an attribute an update changes to a value not known here
CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def index_charges(table, op, spec, before):
    """(bucket, partition, units) of every index write of one Put, Update or Delete on `table`.
    `spec` is the request (or its transaction or batch entry); `before` the stored item's attributes
    (wire JSON), or None."""
    before = before or {}
    after = after_write(op, spec, before)
    charges = []
    for gsi in getattr(table, "global_indexes", None) or ():
        old, new = entry(table, gsi, before), entry(table, gsi, after, before)
        name = f"{table.name}/{gsi.name}"
        if old and new and old[0] == new[0]:
            if old[1] != new[1]:
                charges.append((name, old[0], units_of(item_bytes(known(new[1])))))
            continue
        if old:
            charges.append((name, old[0], units_of(item_bytes(old[1]))))
        if new:
            charges.append((name, new[0], units_of(item_bytes(known(new[1])))))
    return charges


def after_write(op, spec, before):
    """The item's attributes after the write, as far as the request tells them."""
    if op == "Put":
        return dict(spec["Item"])
    if op == "Delete":
        return {}
    after = {**before, **spec.get("Key", {})}
    names = spec.get("ExpressionAttributeNames") or {}
    values = spec.get("ExpressionAttributeValues") or {}
    for clause, body in clauses(spec.get("UpdateExpression", "")):
        for action in top_level(body, ","):
            path, _, rest = action.partition("=") if clause == "SET" else (action.strip(), "", "")
            top, nested = top_name(path.strip().split(" ")[0], names)
            if top is None:
                continue
            if clause == "REMOVE" and not nested:
                after.pop(top, None)
            elif clause == "SET" and not nested and rest.strip() in values:
                after[top] = values[rest.strip()]
            else:
                after[top] = CHANGED
    return after


def clauses(expression):
    """(keyword, body) of each clause of an update expression."""
    marks = list(CLAUSE.finditer(expression))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(expression)
        yield mark.group(1).upper(), expression[mark.end() : end]


def top_level(text, separator):
    """`text` split at `separator`s outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]


def top_name(path, names):
    """(the attribute a document path starts at, whether it goes deeper into it)."""
    match = re.match(r"([#A-Za-z0-9_]+)(.*)", path)
    if not match:
        return None, False
    head = match.group(1)
    return names.get(head, head), bool(match.group(2))


def entry(table, gsi, attrs, before=None):
    """(partition, projected attributes) of the item's entry in `gsi`, or None when it has none."""
    keys = {k["KeyType"]: k["AttributeName"] for k in gsi.schema}
    if any(attrs.get(name) is None for name in keys.values()):
        return None
    hash_value = attrs[keys["HASH"]]
    if hash_value is CHANGED:  # changed to a value not known here: charged where it was
        hash_value = (before or {}).get(keys["HASH"])
        if hash_value is None:
            return None
    projection = gsi.projection or {}
    kept = set(keys.values()) | {table.hash_key_attr, table.range_key_attr} - {None}
    if projection.get("ProjectionType") == "ALL":
        kept = set(attrs)
    kept |= set(projection.get("NonKeyAttributes") or ())
    projected = {name: attrs[name] for name in sorted(kept) if name in attrs}
    return json.dumps(hash_value, sort_keys=True), projected


def known(attrs):
    """`attrs` with values not known here sized as one byte (the index write counts, not its size)."""
    return {name: ({"S": "?"} if value is CHANGED else value) for name, value in attrs.items()}
