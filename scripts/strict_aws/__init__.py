"""A strict stand-in for AWS, in front of moto's server: AWS's failure modes that moto never shows.

moto applies every request it can; AWS also throttles hot partitions and tables, cancels writes that
meet a transaction still in flight, answers 500 (sometimes after applying the request), delivers an
SQS message twice, and honours TransactWriteItems' ClientRequestToken. `StrictAws` is a WSGI
middleware around moto's application that does all of that, configured from STRICT_* variables
(`Config`). Injected faults are deterministic for a given seed: every DynamoDB data request draws the
same five numbers from one `random.Random(seed)`, whatever happens to it, so they depend only on the
order of the requests; holds, capacity buckets and tokens follow the clock, as on AWS.

DynamoDB requests must reach it one at a time (moto_server.Serialized holds the lock around it): its
holds, buckets, tokens and RNG are then used by one request at a time. SQS requests are not
serialised (long polls); their RNG has its own lock.

Only the AWS JSON 1.0 protocol is handled (X-Amz-Target: DynamoDB_20120810.Op / AmazonSQS.Op), the
protocol of the AWS SDK for Rust and of current boto3; anything else passes through untouched, as do
setup and control-plane operations (CreateTable, DescribeTable, UpdateTimeToLive, CreateQueue,
GetQueueAttributes, ListQueues, ...) and moto's /moto-api/.

GET /strict-api/stats answers the counters (STAT_KEYS); POST /strict-api/reset zeroes them.
POST /strict-api/arm {"operation", "table", "when": "before"|"after", "times"} makes the next `times`
requests of that DynamoDB operation on that table answer 500, before or after moto applied them: a
test's way to lose one answer on purpose, whatever the random rates draw.
GET /strict-api/partitions?match=TEXT&top=N answers the busiest partitions (units taken, requests
throttled) since the last reset; POST /strict-api/capacity {"partition_wcu", "partition_rcu",
"table_wcu", "table_rcu"} sets throughput while it runs (a test scaled to its size: see
docs/data-model.md, "Hot keys at the scale of the test").

Modules: `config` (settings, the operations handled, the counters), `answers` (AWS's error shapes,
capacity units and buckets), `middleware` (the WSGI middleware: routing, faults, holds, capacity,
SQS duplicates), `operations` (each DynamoDB data operation under those rules), `admin` (the
/strict-api/ routes), `wsgi` (a request's body, JSON and credential).
"""

from .config import STAT_KEYS, Config
from .middleware import StrictAws

__all__ = ["Config", "STAT_KEYS", "StrictAws"]
