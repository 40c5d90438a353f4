#!/usr/bin/env bash
# Build (or reuse) the binaries of the release-drills test control plane:
#   kube-apiserver, kube-controller-manager, kube-scheduler  (go/k8s,  k8s.io/kubernetes v1.37.2)
#   etcd                                                     (go/etcd, go.etcd.io/etcd/server/v3 v3.7.3)
#   helm                                                     (go/helm, helm.sh/helm/v4 v4.3.2)
#
# The binaries go to  $CACHE_ROOT/controlplane/<hash>/bin/  where <hash> covers every go.mod,
# go.sum and .go file under go/, this script, and the Go version. When that directory is
# complete the build is skipped. Concurrent callers (CI + a pytest fixture) are serialised by
# flock; a build is written to a temporary directory and renamed into place, so a half-built
# bin dir is never visible.
#
# stdout: exactly one line, the bin dir (so `BIN=$(tests/controlplane/build.sh)` works).
# stderr: progress, and how long the build took.
#
# Environment:
#   RELEASE_DRILLS_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/release-drills)
#   CONTROLPLANE_FORCE=1  rebuild even if the cached binaries exist
#   GOFLAGS / GOCACHE / GOMODCACHE are honoured as usual (GOFLAGS gets -mod=mod added).
#
# Usage: build.sh [--print-hash] [--force]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gosrc="$here/go"

export GOTOOLCHAIN=local   # never download another toolchain
export CGO_ENABLED=0       # static binaries, no C toolchain needed
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"

K8S_VERSION=v1.37.2
HELM_VERSION=v4.3.2
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler etcd helm)

force="${CONTROLPLANE_FORCE:-0}"
print_hash=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print-hash) print_hash=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "build.sh: $*" >&2; }

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
goversion="$(go env GOVERSION)"

# The cache key: content of every build input, plus this script and the Go version.
compute_hash() {
  {
    echo "$goversion"
    sha256sum "$here/build.sh" | cut -d' ' -f1
    (cd "$gosrc" && find . -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) -print | LC_ALL=C sort | while read -r f; do
      printf '%s %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"
    done)
  } | sha256sum | cut -c1-16
}
hash="$(compute_hash)"
if [[ "$print_hash" == 1 ]]; then echo "$hash"; exit 0; fi

cache_root="${RELEASE_DRILLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/release-drills}"
dest="$cache_root/controlplane/$hash"
bin="$dest/bin"
mkdir -p "$dest"

complete() {
  [[ -f "$bin/.complete" ]] || return 1
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}

# Serialise concurrent builders of the same hash.
exec 9>"$dest/.lock"
flock 9

if [[ "$force" != 1 ]] && complete; then
  log "cached binaries for $hash are complete (no build)"
  echo "$bin"
  exit 0
fi

tmp="$(mktemp -d "$dest/bin.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

ver_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ver_flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  ver_flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

step() {  # step <name> <module dir> <go build args...>
  local name="$1" dir="$2"; shift 2
  local t0; t0=$(date +%s)
  log "building $name (go build in ${dir#"$here"/}) ..."
  (cd "$dir" && go build -trimpath "$@") >&2
  log "built $name in $(( $(date +%s) - t0 ))s"
}

step "kube-apiserver kube-controller-manager kube-scheduler ($K8S_VERSION)" "$gosrc/k8s" \
  -ldflags="-s -w$ver_flags" -o "$tmp/" ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler
step "etcd" "$gosrc/etcd" -ldflags="-s -w" -o "$tmp/etcd" .
step "helm ($HELM_VERSION)" "$gosrc/helm" \
  -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$tmp/helm" helm.sh/helm/v4/cmd/helm

for b in "${BINARIES[@]}"; do [[ -x "$tmp/$b" ]] || { log "missing $b after build"; exit 1; }; done
touch "$tmp/.complete"
rm -rf "$bin"
mv "$tmp" "$bin"
trap - EXIT
log "build took $(( $(date +%s) - start ))s; binaries in $bin"
echo "$bin"
