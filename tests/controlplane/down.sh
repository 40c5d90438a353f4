#!/usr/bin/env bash
# Stop the control plane started by up.sh (SIGTERM; SIGKILL of its process group after 30 s).
# Usage: tests/controlplane/down.sh [STATE_DIR]   (default: tests/controlplane/.state)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${1:-$here/.state}"
pidfile="$state/plane.pid"
if [[ ! -f "$pidfile" ]] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "down.sh: not running"
  rm -f "$pidfile" "$state/ready"
  exit 0
fi
pid="$(cat "$pidfile")"
kill -TERM "$pid"
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  echo "down.sh: still running after 30s; killing process group $pid" >&2
  kill -KILL -- "-$pid" 2>/dev/null || true
fi
rm -f "$pidfile" "$state/ready"
echo "down.sh: stopped"
