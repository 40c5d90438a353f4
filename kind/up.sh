#!/usr/bin/env bash
# Stand up a real local cluster for release-drills: kind + a pinned Argo CD + an in-cluster Git
# server holding kind/platform-config + the sample app image + the dev/stage/prod Applications +
# a plain Helm release in `sandbox` + the runner's RBAC. Then: drills run drills/ --target kind-local
#
# Needs: docker, kind, kubectl, helm, git. Idempotent: re-running skips what exists.
# Environment: ARGOCD_VERSION (default v3.5.1), CLUSTER (default release-drills), GIT_PORT (default 9418).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cluster="${CLUSTER:-release-drills}"
argocd_version="${ARGOCD_VERSION:-v3.5.1}"
git_port="${GIT_PORT:-9418}"
context="kind-${cluster}"
in_cluster_repo="git://git-server.gitops.svc.cluster.local/platform-config.git"
chart="$root/kind/platform-config/apps/week6-api"

for tool in docker kind kubectl helm git; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is required" >&2; exit 1; }
done
k() { kubectl --context "$context" "$@"; }

echo "== cluster $cluster"
if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --config "$here/cluster.yaml" --wait 120s
fi

echo "== sample app image (week6-api:1.0.0, dev-latest, stage-latest, prod-latest)"
docker build -q -t week6-api:1.0.0 "$here/app"
for tag in dev-latest stage-latest prod-latest; do docker tag week6-api:1.0.0 "week6-api:$tag"; done
kind load docker-image --name "$cluster" week6-api:1.0.0 week6-api:dev-latest week6-api:stage-latest week6-api:prod-latest

echo "== Argo CD $argocd_version"
k create namespace argocd --dry-run=client -o yaml | k apply -f -
k apply -n argocd --server-side --force-conflicts \
  -f "https://raw.githubusercontent.com/argoproj/argo-cd/${argocd_version}/manifests/install.yaml"
for d in argocd-repo-server argocd-server argocd-redis argocd-applicationset-controller; do
  k -n argocd rollout status "deployment/$d" --timeout=300s
done
k -n argocd rollout status statefulset/argocd-application-controller --timeout=300s

echo "== Git server with kind/platform-config"
k apply -f "$here/git-server.yaml"
k -n gitops rollout status deployment/git-server --timeout=180s
pidfile="$here/.port-forward.pid"
if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "port-forward already running (pid $(cat "$pidfile"))"
else
  nohup kubectl --context "$context" -n gitops port-forward svc/git-server "${git_port}:9418" >"$here/.port-forward.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 30); do git ls-remote "git://127.0.0.1:${git_port}/platform-config.git" >/dev/null 2>&1 && break; sleep 1; done
fi
if [[ -z "$(git ls-remote "git://127.0.0.1:${git_port}/platform-config.git" main)" ]]; then
  seed="$(mktemp -d)"
  cp -R "$root/kind/platform-config/." "$seed/"
  # the Applications in the repository point at the in-cluster Git server
  sed -i "s#repoURL: .*#repoURL: ${in_cluster_repo}#" "$seed"/envs/*/week6-api-app.yaml
  git -C "$seed" init -q --initial-branch=main
  git -C "$seed" add -A
  git -C "$seed" -c user.name=release-drills -c user.email=release-drills@localhost commit -q -m "platform-config"
  git -C "$seed" push -q "git://127.0.0.1:${git_port}/platform-config.git" main
  rm -rf "$seed"
fi

echo "== Applications week6-api-{dev,stage,prod}"
for env in dev stage prod; do
  sed "s#repoURL: .*#repoURL: ${in_cluster_repo}#" "$root/kind/platform-config/envs/$env/week6-api-app.yaml" | k apply -f -
done
# prod syncs by hand (no automated policy): the first release, as an operator would run it
k -n argocd patch application week6-api-prod --type merge \
  -p '{"operation":{"initiatedBy":{"username":"kind-up"},"sync":{"revision":"main"}}}'

echo "== plain Helm release week6-api in sandbox"
helm --kube-context "$context" upgrade --install week6-api "$chart" -n sandbox --create-namespace \
  -f "$chart/values-dev.yaml" --wait --timeout 300s

echo "== runner RBAC (kind/rbac.yaml)"
for env in dev stage; do k create namespace "$env" --dry-run=client -o yaml | k apply -f -; done
k apply -f "$here/rbac.yaml"

echo "== waiting for the Applications to be Synced and Healthy"
for env in dev stage prod; do
  k -n argocd wait --for=jsonpath='{.status.health.status}'=Healthy "application/week6-api-$env" --timeout=600s
  k -n argocd wait --for=jsonpath='{.status.sync.status}'=Synced "application/week6-api-$env" --timeout=600s
done

cat <<MSG

Ready. Context: $context (Git server on git://127.0.0.1:${git_port}/platform-config.git via port-forward).
  drills run drills/ --target kind-local          # every seed drill against this cluster
  drills run drills/ --target kind-local --dry-run
  kind/down.sh                                    # delete the cluster
MSG
