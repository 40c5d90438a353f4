#!/usr/bin/env bash
# Delete the local release-drills kind cluster and stop the Git port-forward started by up.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster="${CLUSTER:-release-drills}"
pidfile="$here/.port-forward.pid"
if [[ -f "$pidfile" ]]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile" "$here/.port-forward.log"
fi
if command -v kind >/dev/null && kind get clusters | grep -qx "$cluster"; then
  kind delete cluster --name "$cluster"
fi
echo "cluster $cluster deleted"
