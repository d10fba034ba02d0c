#!/usr/bin/env bash
# What each Lambda function must not depend on, checked on the dependency graph Cargo resolves for
# that function alone, for both of Lambda's architectures. That is how `sam build` builds it: the
# template's CodeUri is the member's directory (functions/NAME; checked below), where Cargo selects
# that one package and resolves its features alone (at the workspace root, `--bin NAME` would unify every member's
# features, the CLI's and the tests' included). The symbol-level view (what the linker kept, by
# crate) is in docs/architecture.md, "What each function links".
set -euo pipefail
cd "$(dirname "$0")/.."

# Nobody: the CLI's own crates, a second TLS crypto library beside the AWS SDK's aws-lc-rs.
common="clap indicatif tokio-tungstenite tungstenite rlimit ring"
declare -A forbidden=(
  # sends no frame to a charger (no management API) and makes no HTTP request of its own
  [api]="$common aws-sdk-apigatewaymanagement reqwest"
  # serves no HTTP API
  [worker]="$common axum lambda_http"
  # serves no HTTP API, sends no webhook and reads no secret
  [websocket]="$common axum lambda_http reqwest aws-sdk-secretsmanager"
)

status=0
for function in api worker websocket; do
  if ! grep -q "CodeUri: functions/$function\$" template.yaml; then
    echo "template.yaml: the $function function's CodeUri must be functions/$function" >&2
    status=1
  fi
  deps=$(cargo tree --locked -p "$function" -e normal --target aarch64-unknown-linux-gnu --target x86_64-unknown-linux-gnu --prefix none --format '{p}' | cut -d' ' -f1 | sort -u)
  found=()
  for crate in ${forbidden[$function]}; do
    if grep -qx "$crate" <<< "$deps"; then found+=("$crate"); fi
  done
  if [ ${#found[@]} -gt 0 ]; then
    echo "$function depends on ${found[*]}, which it never runs" >&2
    status=1
  else
    echo "$function: $(wc -l <<< "$deps") crates, none of: ${forbidden[$function]}"
  fi
done
exit $status
