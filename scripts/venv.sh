# Sourced by the scripts that need the test venv (.venv-test: moto, boto3, the Python `ocpp` package,
# websockets, pytest, schemathesis): creates it when missing or stale; sets $venv.

venv="$root/.venv-test"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$root/tests/python/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/python/requirements.txt"
  echo "$want" > "$stamp"
fi
