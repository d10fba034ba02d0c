"""The stand-in's own API under /strict-api/ (a mixin of `middleware.StrictAws`): its counters and
per-partition tallies, faults armed on purpose, throughput set while it runs, and the IAM verdicts
`serve`'s management API stand-in asks for."""

import dataclasses
import json
import math
import urllib.parse

from .answers import _response, denial_message
from .config import CAPACITY, READS, STAT_KEYS, WRITES
from .wsgi import _body


class StrictApi:
    def api(self, environ):
        """GET /strict-api/stats, /partitions, /iam; POST /strict-api/reset, /capacity, /authorize, /arm."""
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/strict-api/stats" and method == "GET":
            with self.stats_lock:
                return _response(200, dict(self.stats))
        if path == "/strict-api/reset" and method == "POST":
            with self.stats_lock:
                self.stats = dict.fromkeys(STAT_KEYS, 0)
                self.partitions.clear()
                return _response(200, dict(self.stats))
        if path == "/strict-api/partitions" and method == "GET":
            return _response(200, {"partitions": self.partition_tallies(environ.get("QUERY_STRING", ""))})
        if path == "/strict-api/capacity" and method == "POST":
            try:
                asked = json.loads(_body(environ))
                rates = {name: float(asked[name]) for name in CAPACITY if name in asked}
            except (ValueError, TypeError) as e:
                return _response(400, {"message": f"capacity: {e!r}"})
            if not rates or not all(math.isfinite(rate) and rate > 0 for rate in rates.values()):
                return _response(400, {"message": f"capacity: one or more of {', '.join(CAPACITY)}, each > 0"})
            table = asked.get("table") if isinstance(asked, dict) else None
            if table is not None:
                # One table's own scale (and its indexes'), beside tests that keep the default.
                self.table_rates = {**self.table_rates, str(table): {**self.table_rates.get(str(table), {}), **rates}}
                self.buckets = {k: b for k, b in self.buckets.items() if k[1].split("/")[0] != table}
                return _response(200, {"table": table, **self.table_rates[str(table)]})
            # A new scale: its buckets start full, and its partitions' tallies start over. Each is
            # one assignment (atomic under the GIL) that a DynamoDB request in flight, serialised
            # by moto_server's lock but not by this one, sees before or after, never half done.
            self.config = dataclasses.replace(self.config, **rates)
            self.buckets = {}
            self.partitions.clear()
            return _response(200, {name: getattr(self.config, name) for name in CAPACITY})
        if path == "/strict-api/iam" and method == "GET":
            if self.guard is None:
                return _response(200, {"enabled": False})
            with self.guard_lock:
                return _response(200, {"enabled": True, **self.guard.report()})
        if path == "/strict-api/authorize" and method == "POST":
            # API Gateway's management API, served by `ocpp-bulk serve` itself, asks here.
            try:
                asked = json.loads(_body(environ))
                authorization, action, resource = asked["authorization"], asked["action"], asked["resource"]
            except (ValueError, KeyError, TypeError) as e:
                return _response(400, {"message": f"authorize: {e!r}"})
            principal = self.guard.principal(authorization) if self.guard else None
            denied = self.denied(principal, [(action, resource, {})], action.partition(":")[2])
            if denied is None:
                return _response(200, {"allowed": True})
            return _response(403, {**denied, "message": denial_message(denied)})
        if path == "/strict-api/arm" and method == "POST":
            try:
                fault = json.loads(_body(environ))
                armed = [fault["operation"], fault["table"], fault["when"], int(fault.get("times", 1))]
            except (ValueError, KeyError, TypeError) as e:
                return _response(400, {"message": f"arm: {e!r}"})
            if armed[2] not in ("before", "after") or armed[0] not in WRITES | READS:
                return _response(400, {"message": "arm: when is before or after, operation a data operation"})
            with self.stats_lock:
                self.armed.append(armed)
            return _response(200, {"armed": armed})
        return _response(404, {"message": "GET /strict-api/stats or /partitions, POST /strict-api/reset, /arm or /capacity"})

    def partition_tallies(self, query):
        """The busiest partitions (`top`, default 20) whose key contains `match`: units each took and
        requests (or items) of it throttled, since the last reset."""
        asked = urllib.parse.parse_qs(query)
        match, top = asked.get("match", [""])[0], asked.get("top", ["20"])[0]
        top = int(top) if top.isdigit() else 20
        rows = []
        for (kind, table, partition), (units, throttled) in list(self.partitions.items()):
            key = json.loads(partition)
            key = next(iter(key.values())) if isinstance(key, dict) and len(key) == 1 else partition
            if match in str(key):
                rows.append({"kind": kind, "table": table, "key": key, "units": units, "throttled": throttled})
        return sorted(rows, key=lambda row: -row["units"])[:top]

