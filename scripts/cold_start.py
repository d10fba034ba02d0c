"""Cold-start init of each Lambda function, measured locally: the process is started with a stand-in
for Lambda's runtime API on loopback, and the time from its start to its first request for an event
(GET .../runtime/invocation/next, i.e. ready) is taken, RUNS times per function. Prints the median
and the range next to the bootstrap's size. Usage: cold_start.py BINARY_DIR [RUNS]"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

BIN_DIR = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
ready = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            ready.set()
            time.sleep(2)  # no event: the process is killed meanwhile
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(
    os.environ,
    AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
    AWS_LAMBDA_FUNCTION_NAME="cold-start",
    AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
    AWS_LAMBDA_LOG_GROUP_NAME="cold-start",
    AWS_LAMBDA_LOG_STREAM_NAME="cold-start",
    AWS_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="cold",
    AWS_SECRET_ACCESS_KEY="start",
    RUNS_TABLE="runs",
    DIRECTORY_TABLE="directory",
    CONNECTIONS_TABLE="connections",
    DISPATCH_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/000000000000/dispatch",
    DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/000000000000/dead",
    DEAD_LETTER_QUEUE_ARN="arn:aws:sqs:us-east-1:000000000000:dead",
    WEBSOCKET_API_ID="abcdef1234",
    WEBSOCKET_STAGE="ocpp",
    CURSOR_SECRET="c" * 32,
    WEBHOOK_KEY="w" * 32,
    RUST_LOG="warn",
)
for name in ("api", "worker", "websocket"):
    path = os.path.join(BIN_DIR, name)
    times = []
    for _ in range(RUNS):
        ready.clear()
        started = time.monotonic()
        proc = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = ready.wait(10)
        elapsed = time.monotonic() - started
        proc.kill()
        _, err = proc.communicate()
        if not ok:
            print(f"{name:9} never asked for an event: {err.decode(errors='replace')[-300:]}")
            break
        times.append(elapsed * 1000)
    if times:
        size = os.path.getsize(path) / 1e6
        print(f"{name:9} {size:5.1f} MB  init {statistics.median(times):6.1f} ms median "
              f"({min(times):.1f}–{max(times):.1f} ms, {len(times)} cold starts)")
server.shutdown()
