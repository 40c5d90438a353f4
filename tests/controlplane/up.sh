#!/usr/bin/env bash
# Start the release-drills test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, fake kubelet) in the background, for trying the kube target by hand.
# Prints the kubeconfig path and the context. Stop it with down.sh.
#
# Usage: tests/controlplane/up.sh [STATE_DIR]     (default: tests/controlplane/.state)
# Env:   PYTHON (default: python3; needs PyYAML), DRILLS_KUBELET_IMAGE_BACKOFF (default 10)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="$(mkdir -p "${1:-$here/.state}" && cd "${1:-$here/.state}" && pwd)"
py="${PYTHON:-python3}"

"$py" -c 'import yaml' 2>/dev/null || { echo "up.sh: $py cannot import yaml; set PYTHON to a Python with PyYAML" >&2; exit 1; }

if [[ -f "$state/plane.pid" ]] && kill -0 "$(cat "$state/plane.pid")" 2>/dev/null; then
  echo "up.sh: already running (pid $(cat "$state/plane.pid")); down.sh stops it" >&2
else
  bin="$(bash "$here/build.sh")"   # progress on stderr; slow only the first time
  rm -f "$state/ready" "$state/plane.pid"
  setsid nohup "$py" "$here/plane.py" serve --state-dir "$state" --sample-app > "$state/plane.log" 2>&1 < /dev/null &
  pid=$!
  for _ in $(seq 1 720); do
    [[ -f "$state/ready" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "up.sh: the control plane failed to start; $state/plane.log:" >&2
      tail -n 60 "$state/plane.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  [[ -f "$state/ready" ]] || { echo "up.sh: not ready after 360s; see $state/plane.log" >&2; exit 1; }
fi
bin="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bin_dir"])' "$state/plane.json")"
echo "kubeconfig: $state/kubeconfig"
echo "context:    drills-test"
echo "logs:       $state/logs/"
echo "binaries:   $bin (helm, kube-apiserver, ...)"
echo "try:        KUBECONFIG=$state/kubeconfig $bin/helm list -A"
echo "drills:     drills run drills/ --target local-controlplane   (the sample app, Argo CD stand-in and GitOps repo are set up)"
