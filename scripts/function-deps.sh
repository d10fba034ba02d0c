#!/usr/bin/env bash
# What each Lambda function must not depend on, checked on the dependency graph Cargo resolves for
# that function alone (as `sam build` / `cargo lambda build --bin NAME` builds it): a crate the
# function never runs is neither built nor linked into its bootstrap. The symbol-level view (what the
# linker kept, by crate) is in docs/architecture.md, "What each function links".
set -euo pipefail
cd "$(dirname "$0")/.."

# Nobody: the CLI's own crates, a second TLS crypto library beside the AWS SDK's aws-lc-rs.
common="clap indicatif tokio-tungstenite tungstenite rlimit ring"
declare -A forbidden=(
  # sends no frame to a charger (no management API) and makes no HTTP request of its own
  [api]="$common aws-sdk-apigatewaymanagement reqwest"
  # serves no HTTP API
  [worker]="$common axum lambda_http"
  # serves no HTTP API and sends no webhook
  [websocket]="$common axum lambda_http reqwest"
)

status=0
for function in api worker websocket; do
  deps=$(cargo tree --locked -p "$function" -e normal --prefix none --format '{p}' | cut -d' ' -f1 | sort -u)
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
