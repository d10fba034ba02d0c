# Sourced by the scripts that need moto's server: installs the venv (scripts/venv.sh), starts
# scripts/moto_server.py on a free loopback port (or MOTO_PORT), exports the AWS_* variables that
# point the SDK at it, and stops it when the calling script exits.

. "$root/scripts/venv.sh"

mkdir -p "$root/target"
moto_port=${MOTO_PORT:-$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
"$venv/bin/python" "$root/scripts/moto_server.py" "$moto_port" > "$root/target/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
    "http://127.0.0.1:$moto_port/moto-api/" 2>/dev/null && break
  kill -0 "$moto_pid" 2>/dev/null || { cat "$root/target/moto.log"; exit 1; }
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "moto on $AWS_ENDPOINT_URL"
