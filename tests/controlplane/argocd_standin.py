#!/usr/bin/env python3
"""A STAND-IN for Argo CD's application controller, for the release-drills test control plane.

It is not Argo CD. Real Argo CD cannot be built here, so this process plays the part of
argocd-application-controller + repo-server for single-source Git + Helm Applications, closely
enough that the drill runner cannot tell the difference through the Kubernetes API. It follows
argo-cd controller/appcontroller.go, controller/sync.go and gitops-engine (see
/work/shared/reference/argocd.md) and the same semantics as the project's in-memory model
(runner/targets/sim/argocd.py), which it does not import.

    python argocd_standin.py --kubeconfig K --context C --namespace argocd \\
        --repo https://github.com/your-org/platform-config.git=/path/to/platform-config.git \\
        [--repo URL=PATH ...] [--reconciliation-seconds 120] [--jitter-seconds 60] \\
        [--self-heal-backoff 2,3,300] [--helm PATH (default $HELM_BIN, else helm on PATH)] \\
        [--ready-file PATH] [--watch-timeout-seconds 300] [--work-dir DIR] [--log-level INFO]

Logs go to stderr. Test helpers: gitops_fixture.py (a bare repo seeded from kind/platform-config,
install_application_crd, start_argocd_standin / stop_argocd_standin for a ControlPlane).

What it does, like Argo CD:
- Watches Applications in --namespace (list, then watch from the list's resourceVersion with
  bookmarks, a server-side timeout and a client read timeout; a dropped stream is resumed from
  the last resourceVersion, a 410 Gone relists and synthesises the missed changes).
- Watches the managed kinds (Deployments, Services, ServiceAccounts, plus any other kind a chart
  renders) cluster-wide, like Argo CD's cluster cache: a change to an object carrying an app's
  tracking annotation requests a refresh of that app ("CompareWithRecent": same revision, no Git
  poll), so drift is noticed within about a second.
- Polls Git every --reconciliation-seconds plus a random 0..--jitter-seconds ("CompareWithLatest").
  The refresh annotation ``argocd.argoproj.io/refresh`` (normal|hard) forces an immediate
  comparison against the newest commit and is removed in the same patch that writes the status;
  hard also drops the cached manifests. A changed spec.source/destination does the same;
  turning automated sync on triggers a comparison with the newest commit.
- Resolves targetRevision (branch, tag, SHA or HEAD) in a local bare repository (--repo maps
  repoURL to it), exports that commit with ``git archive`` and renders it with the real
  ``helm template <releaseName or app name> . --namespace <dest ns> -f <valueFile>...``
  (+ values / valuesObject as one more values file, + parameters as --set/--set-string).
- Adds ``argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>``, applies with
  server-side apply (field manager ``argocd-controller``, force), in Argo CD's kind order, after
  creating the destination namespace when CreateNamespace=true.
- Compares only the fields the rendered manifests set (resource quantities compared by value,
  empty maps/lists equal to absent), per resource and for the app; objects that carry the app's
  tracking annotation but are no longer rendered are OutOfSync with requiresPruning.
- Health per resource as gitops-engine (Deployment exactly as health_deployment.go; Service,
  Ingress; objects being deleted are Progressing; no health check for ServiceAccount or
  ConfigMap), aggregated as Argo CD >= 3.4 (a missing resource does not make the app Missing
  unless every resource is missing). status.health.lastTransitionTime changes only with the code.
- syncPolicy.automated (and ``enabled: false``): auto-syncs a new revision/source once; does not
  retry a failed auto-sync (SyncError condition); with selfHeal, re-syncs drift with only the
  out-of-sync resources (autoHealAttemptsCount + 1, no history entry) after the back-off
  0, 2, 6, 18 ... s (--self-heal-backoff base,factor,cap) from the previous operation's
  finishedAt, the count reset by any other sync; prune deletes tracked objects no longer
  rendered; without prune, an OutOfSync that only needs pruning is left alone; allowEmpty.
- Runs operations written to the top-level ``operation`` field: sync to operation.sync.revision
  with operation.sync.source overriding spec.source (that is how a rollback to a history id is
  run), resources subset (which may prune selected objects), prune, dryRun, syncOptions,
  retry (limit, backoff duration/factor/maxDuration; auto-syncs get limit 5). Writes
  status.operationState (Running -> Succeeded/Failed/Error, message, startedAt, finishedAt,
  syncResult{revision, source, resources}), appends status.history {id, revision, deployedAt,
  deployStartedAt, source, initiatedBy} for full, successful, non-dry-run syncs (trimmed to
  spec.revisionHistoryLimit, default 10), then removes ``operation`` in the same patch.
- Writes status with JSON merge patches computed against the object it read, carrying that
  resourceVersion; a 409 Conflict re-reads and recomputes. Writes status.sync (status,
  revision, comparedTo), health, resources (inline health, resourceHealthSource: inline, as the
  simulator does), reconciledAt, summary.images, sourceType, conditions (ComparisonError with
  the helm error text, InvalidSpecError, SyncError).
- Emits core/v1 Events on the Application like Argo CD's audit logger (component
  argocd-application-controller, 1 s timestamps, no eventTime): ResourceUpdated "Updated sync
  status: A -> B" / "Updated health status: A -> B", OperationStarted ("Initiated automated
  sync to '<sha>'", "initiated sync to <rev>", "initiated rollback to <id>"), OperationCompleted
  ("Sync operation to <sha> succeeded", "Partial sync operation to ... succeeded", "... failed: ...").
- One worker thread and one queue: requests for the same app coalesce (highest comparison level
  wins); failures are retried with a per-app back-off (0.5 s doubling to 10 s); nothing
  busy-loops. Survives API server restarts (tested).

What real Argo CD does that this does NOT:
- No API server, UI, CLI, RBAC, SSO, AppProjects (only project "default" exists), ApplicationSets,
  notifications, metrics, Redis, sharding, or apps outside --namespace.
- Sources: only one Git repo + Helm chart directory per app (no spec.sources multi-source, no Helm
  repositories/OCI, kustomize, plain directories, plugins, fileParameters; chart dependencies
  must be vendored). No repo credentials, webhooks, --api-versions/--kube-version, or
  ``helm.sh/hook``/Argo hooks (hook resources are left out), no sync waves (no wave delay).
- Diffing: no ignoreDifferences, no normalisation beyond quantities and empty values, no
  server-side diff, no managedFields-aware comparison, no Secret masking.
- Sync: always server-side apply (real Argo CD defaults to client-side apply unless
  ServerSideApply=true); no Replace/Force/PruneLast/ApplyOutOfSyncOnly/Validate options, no
  syncStrategy.hook semantics, no "Terminating" an operation (syncs run to completion at once),
  no sync windows, no managedNamespaceMetadata, no cascade deletion finalizer (deleting an
  Application leaves its resources), no orphaned-resource warnings.
- Health: no resource tree (Pods/ReplicaSets), so summary.images lists the Deployments'
  template images rather than every pod's image; per-resource health is persisted inline (3.x
  default keeps it in the tree only); no custom Lua health checks; kinds other than
  Deployment/Service/Ingress have no health check. The app health message is the worst
  resource's message (3.x lists up to three causes).
- Managed kinds are discovered from what the charts render; a kind that is tracked but was never
  rendered since the stand-in started is not watched (so not pruned).

Where it differs from the simulator's model (runner/targets/sim/argocd.py), on purpose, because
Argo CD does it this way: a refresh caused by a managed resource changing compares with the
last compared revision (CompareWithRecent), not with the newest commit - only polls, the refresh
annotation, a spec change and finished operations look at Git; "already synced this revision"
and the self-heal count live in status.operationState (operation.sync.autoHealAttemptsCount), not
in memory, so they survive a restart; auto-sync operations carry automated.prune (the sim always
prunes) and the spec's syncOptions; self-heal resources are {group, kind, name} without
namespace; objects still carrying the tracking annotation but no longer rendered make the app
OutOfSync (requiresPruning); reconciledAt is also advanced when rendering fails. Timing is real
(helm, git, API round trips) instead of the sim's configured delays.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import heapq
import io
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

import yaml
from urllib3.exceptions import HTTPError

log = logging.getLogger("argocd-standin")

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
TRACKING = "argocd.argoproj.io/tracking-id"
REFRESH = "argocd.argoproj.io/refresh"
FIELD_MANAGER = "argocd-controller"
COMPONENT = "argocd-application-controller"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
HEALTH_ORDER = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"]
DEFAULT_KINDS = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount")]
# gitops-engine sync ordering (Helm's install order); prune runs in reverse.
KIND_ORDER = [
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
    "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
    "CronJob", "IngressClass", "Ingress", "APIService",
]

# Comparison levels (appcontroller.go CompareWith): what a queued refresh must at least do.
NOTHING, RECENT, LATEST, FORCE = 0, 1, 2, 3
LEVEL_NAMES = {NOTHING: "operation-only", RECENT: "recent", LATEST: "latest", FORCE: "latest-force-resolve"}


# ============================================================================ small helpers

def api_time(t: float | None = None) -> str:
    """metav1.Time: RFC 3339, whole seconds, UTC."""
    return datetime.fromtimestamp(time.time() if t is None else t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def parse_duration(v: Any, default: float) -> float:
    """Argo CD backoff durations: a bare number is seconds, else a Go duration ("5s", "1m30s", "2h")."""
    if v is None or v == "":
        return default
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|h|m|s)", s):
        if m.start() != pos:
            return default
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    return total if pos == len(s) and pos else default


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def version_of(api_version: str) -> str:
    return api_version.split("/")[-1]


def tracking_id(app: str, obj: dict) -> str:
    md = obj["metadata"]
    return f"{app}:{group_of(obj['apiVersion'])}/{obj['kind']}:{md.get('namespace') or ''}/{md['name']}"


def tracked_app(obj: dict | None) -> str | None:
    """The app named by an object's tracking annotation, if the annotation matches the object."""
    if not obj:
        return None
    tid = ((obj.get("metadata") or {}).get("annotations") or {}).get(TRACKING)
    if not tid or ":" not in tid:
        return None
    app = tid.split(":", 1)[0]
    return app if tid == tracking_id(app, obj) else None


def strip_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_none(x) for x in v]
    return v


def merge_diff(old: dict, new: dict) -> dict:
    """The RFC 7386 merge patch that turns `old` into `new` (lists are replaced whole)."""
    patch: dict[str, Any] = {}
    for k in old.keys() - new.keys():
        patch[k] = None
    for k, v in new.items():
        if k not in old:
            patch[k] = v
        elif isinstance(v, dict) and isinstance(old[k], dict):
            sub = merge_diff(old[k], v)
            if sub:
                patch[k] = sub
        elif v != old[k]:
            patch[k] = v
    return patch


def _quantity(v: Any) -> Decimal | None:
    try:
        from kubernetes.utils.quantity import parse_quantity
        return parse_quantity(v)
    except (ImportError, ValueError, TypeError, ArithmeticError):
        return None


def is_subset(desired: Any, live: Any, path: tuple[str, ...] = ()) -> bool:
    """True when every field set in `desired` has the same value in `live` (extras in live ignored).

    Like Argo CD's normalised diff in the cases charts hit: resource quantities compare by value
    ("1000m" == "1"), and an empty map/list or null in the manifest equals an absent field."""
    if isinstance(desired, dict):
        if live is None:
            return all(_empty(v) for v in desired.values())
        return isinstance(live, dict) and all(
            is_subset(v, live.get(k), path + (k,)) for k, v in desired.items() if not _empty(v) or k in live)
    if isinstance(desired, list):
        if live is None:
            return not desired
        return isinstance(live, list) and len(desired) == len(live) and all(
            is_subset(a, b, path) for a, b in zip(desired, live))
    if desired == live:
        return True
    if len(path) >= 2 and path[-2] in ("requests", "limits") and desired is not None and live is not None:
        a, b = _quantity(desired), _quantity(live)
        return a is not None and a == b
    return False


def _empty(v: Any) -> bool:
    return v is None or v == {} or v == []


def automated_policy(app: dict) -> dict | None:
    """spec.syncPolicy.automated when auto-sync is on (IsAutomatedSyncEnabled), else None."""
    auto = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    if auto is None or auto.get("enabled") is False:
        return None
    return auto


def sync_options(app: dict, op_sync: dict | None = None) -> list[str]:
    opts = list(((app.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions") or [])
    opts += [o for o in (op_sync or {}).get("syncOptions") or [] if o not in opts]
    return opts


def has_option(opts: list[str], option: str) -> bool:
    key, _, value = option.partition("=")
    return any(o.replace(" ", "").lower() == f"{key}={value}".lower() for o in opts)


def source_without_revision(src: dict | None) -> dict:
    s = copy.deepcopy(src or {})
    s.pop("targetRevision", None)
    return strip_none(s)


# ============================================================================ Kubernetes REST

class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Gone(Exception):
    """410: the resourceVersion to watch from is too old."""


@dataclass(frozen=True)
class Res:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        p = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            p += f"/namespaces/{quote(namespace, safe='')}"
        p += f"/{self.plural}"
        return p + (f"/{quote(name, safe='')}" if name else "")


class Kube:
    """Raw JSON over the kubernetes client's ApiClient (auth, TLS, pooling) - no generated models,
    so every object is the dict the API server sent, for any kind."""

    def __init__(self, api_client: Any, timeout: tuple[float, float] = (5.0, 30.0)) -> None:
        self.api = api_client
        self.timeout = timeout
        self._res: dict[tuple[str, str], Res] = {}
        self._lock = threading.Lock()

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None,
                content_type: str | None = None, timeout: Any = None, stream: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        if query:
            path = f"{path}?{urlencode(query)}"
        m, url, hdrs, b, _ = self.api.param_serialize(method=method, resource_path=path, header_params=headers,
                                                      body=body, auth_settings=["BearerToken"])
        resp = self.api.call_api(m, url, hdrs, b, _request_timeout=timeout or self.timeout)
        if not 200 <= resp.status < 300:
            data = resp.read()
            try:
                msg = json.loads(data).get("message") or data.decode(errors="replace")
            except (ValueError, AttributeError):
                msg = (data or b"").decode(errors="replace")
            raise ApiError(resp.status, msg)
        if stream:
            return resp.response
        data = resp.read()
        return json.loads(data) if data else {}

    def get(self, path: str) -> dict | None:
        try:
            return self.request("GET", path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def resource(self, api_version: str, kind: str) -> Res:
        """Discovery (cached): plural and scope of apiVersion/kind."""
        key = (api_version, kind)
        with self._lock:
            if key in self._res:
                return self._res[key]
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            doc = self.request("GET", path)
        except ApiError as e:
            raise ApiError(e.status, f"the server does not serve {api_version}") from e
        for r in doc.get("resources") or []:
            if r.get("kind") == kind and "/" not in r["name"]:
                res = Res(group_of(api_version), version_of(api_version), kind, r["name"], bool(r.get("namespaced")))
                with self._lock:
                    self._res[key] = res
                return res
        raise ApiError(404, f"the server could not find the requested resource: {kind} in {api_version}")


def iter_lines(resp: Any) -> Iterator[bytes]:
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line
    if buf.strip():
        yield buf


class Reflector(threading.Thread):
    """List + watch one collection into a cache of raw dicts, calling handler(type, old, new).

    type is ADDED/MODIFIED/DELETED; for DELETED `new` is None and `old` the last state. A watch
    that ends (server timeout, dropped connection, read timeout) resumes from the last
    resourceVersion (kept fresh by BOOKMARKs); 410 Gone - as the HTTP status or an in-stream
    ERROR event - relists and diffs the list against the cache, so no change is lost.
    Errors back off 0.8 s doubling to 10 s (client-go's reflector: 0.8 s .. 30 s), so an API
    server outage is noticed as over within ~10 s."""

    def __init__(self, kube: Kube, path: str, handler: Callable[[str, dict | None, dict | None], None],
                 stop: threading.Event, name: str, watch_timeout: int = 300, resource_version: str | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.kube, self.path, self.handler, self.stop_event = kube, path, handler, stop
        self.watch_timeout = watch_timeout
        self.rv: str | None = resource_version  # None: list first
        self.cache: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.relists = 0
        self._need_list = resource_version is None

    @staticmethod
    def key(obj: dict) -> str:
        md = obj.get("metadata") or {}
        return f"{md.get('namespace') or ''}/{md.get('name')}"

    def items(self) -> list[dict]:
        with self.lock:
            return list(self.cache.values())

    def run(self) -> None:
        delay = 0.8
        while not self.stop_event.is_set():
            try:
                if self._need_list:
                    self.relist()
                self.watch_once()
                delay = 0.8
            except Gone as e:
                log.info("%s: %s; relisting", self.name, e)
                self._need_list = True
                self.stop_event.wait(0.2)
            except Exception as e:  # noqa: BLE001 - any failure: back off, reconnect
                log.warning("%s: watch failed (%s: %s); retrying in %.0fs", self.name, type(e).__name__, e, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 10.0)

    def relist(self) -> None:
        data = self.kube.request("GET", self.path, timeout=(5, 60))
        fresh = {self.key(o): self._fill(o, data) for o in data.get("items") or []}
        with self.lock:
            old, self.cache = self.cache, dict(fresh)
        for k, o in old.items():
            if k not in fresh:
                self._fire("DELETED", o, None)
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                self._fire("ADDED", None, o)
            elif prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                self._fire("MODIFIED", prev, o)
        self.rv = data["metadata"]["resourceVersion"]
        self._need_list = False
        self.relists += 1
        self.synced.set()

    @staticmethod
    def _fill(obj: dict, lst: dict) -> dict:
        """List items lack apiVersion/kind; add them from the list's kind."""
        if "kind" not in obj and lst.get("kind", "").endswith("List"):
            obj["kind"] = lst["kind"][:-4]
            obj["apiVersion"] = lst.get("apiVersion")
        return obj

    def watch_once(self) -> None:
        query = {"watch": "true", "resourceVersion": self.rv or "", "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(self.watch_timeout)}
        log.debug("%s: watching from resourceVersion %s", self.name, self.rv)
        try:
            resp = self.kube.request("GET", self.path, query=query, stream=True,
                                     timeout=(5, self.watch_timeout + 30))
        except ApiError as e:
            if e.status == 410:
                raise Gone(e.message) from e
            raise
        try:
            for line in iter_lines(resp):
                ev = json.loads(line)
                typ, obj = ev.get("type"), ev.get("object") or {}
                if typ == "ERROR":
                    if obj.get("code") == 410:
                        raise Gone(obj.get("message", "410 Gone"))
                    raise ApiError(int(obj.get("code") or 500), obj.get("message", "watch error"))
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                log.debug("%s: %s %s rv=%s", self.name, typ, self.key(obj), rv)
                if typ != "BOOKMARK":
                    k = self.key(obj)
                    with self.lock:
                        prev = self.cache.get(k)
                        if typ == "DELETED":
                            self.cache.pop(k, None)
                        else:
                            self.cache[k] = obj
                    if typ == "DELETED":
                        self._fire("DELETED", prev or obj, None)
                    else:
                        self._fire("ADDED" if prev is None else "MODIFIED", prev, obj)
                if rv:
                    self.rv = rv
                if self.stop_event.is_set():
                    return
        finally:
            resp.release_conn()

    def _fire(self, typ: str, old: dict | None, new: dict | None) -> None:
        try:
            self.handler(typ, old, new)
        except Exception:  # noqa: BLE001 - a handler bug must not kill the watch
            log.exception("%s: handler failed", self.name)


# ============================================================================ Git + Helm ("repo-server")

class RenderError(Exception):
    """Manifest generation failed (shown as a ComparisonError condition)."""


def normalize_url(url: str) -> str:
    u = url.strip().rstrip("/")
    if u.endswith(".git"):
        u = u[:-4]
    return u.lower()


class GitRepos:
    """repoURL -> local bare repository; resolve revisions and export commits with real git."""

    def __init__(self, mapping: dict[str, Path], git_bin: str, workdir: Path) -> None:
        self.repos = {normalize_url(u): p for u, p in mapping.items()}
        self.git_bin = git_bin
        self.exports = workdir / "exports"
        self.exports.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _git(self, repo: Path, *args: str, binary: bool = False) -> Any:
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
        p = subprocess.run([self.git_bin, "--git-dir", str(repo), *args], capture_output=True, env=env, timeout=120)
        if p.returncode != 0:
            raise RenderError(p.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
        return p.stdout if binary else p.stdout.decode().strip()

    def path(self, url: str) -> Path:
        p = self.repos.get(normalize_url(url or ""))
        if p is None:
            raise RenderError(f"repository not found: {url!r} is not one of the stand-in's --repo mappings")
        return p

    def resolve(self, url: str, revision: str | None) -> str:
        """targetRevision (branch, tag, SHA, HEAD or empty) -> commit SHA."""
        repo = self.path(url)
        rev = (revision or "HEAD").strip()
        if rev.startswith("-"):
            raise RenderError(f"invalid revision {rev!r}")
        candidates = ["HEAD"] if rev == "HEAD" else [f"refs/heads/{rev}", f"refs/tags/{rev}", rev]
        for c in candidates:
            try:
                return self._git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{c}^{{commit}}")
            except RenderError:
                continue
        raise RenderError(f"unable to resolve '{rev}' to a commit SHA")

    def export(self, url: str, sha: str) -> Path:
        """The tree of commit `sha`, extracted once into the work dir (kept for the 16 newest)."""
        repo = self.path(url)
        key = hashlib.sha256(f"{normalize_url(url)}@{sha}".encode()).hexdigest()[:24]
        dest = self.exports / key
        with self._lock:
            if dest.is_dir():
                os.utime(dest)
                return dest
            data = self._git(repo, "archive", "--format=tar", sha, binary=True)
            tmp = Path(tempfile.mkdtemp(dir=self.exports, prefix=".tmp-"))
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp, filter="data")
            tmp.rename(dest)
            old = sorted((p for p in self.exports.iterdir() if not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime)
            for p in old[:-16]:
                shutil.rmtree(p, ignore_errors=True)
            return dest


class Renderer:
    """`helm template` of an Application source at a commit, with a small manifest cache."""

    def __init__(self, repos: GitRepos, helm_bin: str, workdir: Path) -> None:
        self.repos, self.helm_bin, self.workdir = repos, helm_bin, workdir
        self.cache: dict[str, list[dict]] = {}
        self.order: list[str] = []
        self._lock = threading.Lock()

    def render(self, app_name: str, source: dict, dest_ns: str, sha: str, hard: bool = False) -> list[dict]:
        key = json.dumps([source.get("repoURL"), sha, source_without_revision(source), app_name, dest_ns], sort_keys=True)
        with self._lock:
            if not hard and key in self.cache:
                return copy.deepcopy(self.cache[key])
        manifests = self._render(app_name, source, dest_ns, sha)
        with self._lock:
            self.cache[key] = manifests
            self.order.append(key)
            while len(self.order) > 64:
                self.cache.pop(self.order.pop(0), None)
        return copy.deepcopy(manifests)

    def _render(self, app_name: str, source: dict, dest_ns: str, sha: str) -> list[dict]:
        if source.get("chart"):
            raise RenderError("Helm repository sources (spec.source.chart) are not supported by the stand-in")
        root = self.repos.export(source.get("repoURL", ""), sha)
        chart = (root / (source.get("path") or ".")).resolve()
        if not str(chart).startswith(str(root.resolve())) or not (chart / "Chart.yaml").is_file():
            raise RenderError(f"{source.get('path')!r}: app path does not contain a Helm chart (no Chart.yaml)")
        helm = source.get("helm") or {}
        release = helm.get("releaseName") or app_name
        argv = [self.helm_bin, "template", release, ".", "--namespace", dest_ns]
        with tempfile.TemporaryDirectory(dir=self.workdir, prefix="render-") as tmp:
            for vf in helm.get("valueFiles") or []:
                p = (chart / vf).resolve()
                if not str(p).startswith(str(root.resolve())):
                    raise RenderError(f"value file {vf!r} resolves outside the repository")
                if not p.is_file() and helm.get("ignoreMissingValueFiles"):
                    continue
                argv += ["--values", vf]
            inline = helm.get("valuesObject") if helm.get("valuesObject") else (
                yaml.safe_load(helm["values"]) if helm.get("values") else None)
            if inline:
                vpath = Path(tmp) / "inline-values.yaml"
                vpath.write_text(yaml.safe_dump(inline))
                argv += ["--values", str(vpath)]
            for prm in helm.get("parameters") or []:
                flag = "--set-string" if prm.get("forceString") else "--set"
                argv += [flag, f"{prm.get('name')}={str(prm.get('value', '')).replace(',', chr(92) + ',')}"]
            if helm.get("skipCrds"):
                argv.append("--skip-crds")
            if helm.get("skipTests"):
                argv.append("--skip-tests")
            env = dict(os.environ)
            for k, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data")):
                env.setdefault(k, str(self.workdir / "helm" / sub))
            try:
                p = subprocess.run(argv, cwd=chart, capture_output=True, text=True, timeout=120, env=env)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise RenderError(f"`helm template` could not run: {e}") from e
        shown = " ".join(["helm", *argv[1:]])
        if p.returncode != 0:
            raise RenderError(f"`{shown}` failed exit status {p.returncode}: {p.stderr.strip()}")
        try:
            docs = list(yaml.safe_load_all(p.stdout))
        except yaml.YAMLError as e:
            raise RenderError(f"`{shown}` produced invalid YAML: {e}") from e
        out: list[dict] = []
        for d in docs:
            if not isinstance(d, dict) or not d.get("kind"):
                continue
            items = d.get("items") if d["kind"].endswith("List") and isinstance(d.get("items"), list) else [d]
            for m in items:
                ann = (m.get("metadata") or {}).get("annotations") or {}
                if "helm.sh/hook" in ann or "argocd.argoproj.io/hook" in ann:
                    log.warning("%s: hook resource %s/%s left out (hooks are not supported)", app_name,
                                m.get("kind"), (m.get("metadata") or {}).get("name"))
                    continue
                if not (m.get("apiVersion") and (m.get("metadata") or {}).get("name")):
                    raise RenderError(f"rendered object without apiVersion or metadata.name: {str(m)[:200]}")
                out.append(m)
        return out


# ============================================================================ health (gitops-engine pkg/health)

def deployment_health(d: dict) -> tuple[str, str]:
    spec, st, md = d.get("spec") or {}, d.get("status") or {}, d.get("metadata") or {}
    if spec.get("paused"):
        return "Suspended", "Deployment is paused"
    if (md.get("generation") or 0) > (st.get("observedGeneration") or 0):
        return "Progressing", "Waiting for rollout to finish: observed deployment generation less than desired generation"
    prog = next((c for c in st.get("conditions") or [] if c.get("type") == "Progressing"), {})
    if prog.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded", f'Deployment "{md.get("name")}" exceeded its progress deadline'
    want = spec.get("replicas", 1)
    updated, replicas, available = (st.get("updatedReplicas") or 0), (st.get("replicas") or 0), (st.get("availableReplicas") or 0)
    if want is not None and updated < want:
        return "Progressing", f"Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
    if replicas > updated:
        return "Progressing", f"Waiting for rollout to finish: {replicas - updated} old replicas are pending termination..."
    if available < updated:
        return "Progressing", f"Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
    return "Healthy", ""


def resource_health(obj: dict | None, kind: str) -> tuple[str, str] | None:
    """(status, message), or None for kinds without a health check."""
    if obj is None:
        return "Missing", ""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Progressing", "Pending deletion"
    if kind == "Deployment":
        return deployment_health(obj)
    if kind == "Service":
        spec, st = obj.get("spec") or {}, obj.get("status") or {}
        if spec.get("type") == "LoadBalancer" and not (st.get("loadBalancer") or {}).get("ingress"):
            return "Progressing", ""
        return "Healthy", ""
    if kind == "Ingress":
        return ("Healthy", "") if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") else ("Progressing", "")
    return None


# ============================================================================ work queue

@dataclass
class Request:
    level: int = NOTHING
    hard: bool = False


class WorkQueue:
    """One queue for every app: requests coalesce per app (highest level wins); delayed requests
    wait in a heap; each app has one pending periodic poll."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._ready: dict[str, Request] = {}
        self._delayed: list[tuple[float, int, str, Request]] = []
        self._seq = 0
        self._polls: dict[str, float] = {}

    def add(self, app: str, level: int = NOTHING, hard: bool = False, delay: float = 0.0) -> None:
        with self._cv:
            if delay > 0:
                self._seq += 1
                heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, app, Request(level, hard)))
            else:
                r = self._ready.setdefault(app, Request())
                r.level, r.hard = max(r.level, level), r.hard or hard
            self._cv.notify()

    def schedule_poll(self, app: str, delay: float) -> None:
        with self._cv:
            self._polls[app] = time.monotonic() + delay
            self._cv.notify()

    def forget(self, app: str) -> None:
        with self._cv:
            self._ready.pop(app, None)
            self._polls.pop(app, None)
            self._delayed = [d for d in self._delayed if d[2] != app]
            heapq.heapify(self._delayed)

    def get(self, stop: threading.Event) -> tuple[str, Request] | None:
        with self._cv:
            while not stop.is_set():
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, app, req = heapq.heappop(self._delayed)
                    r = self._ready.setdefault(app, Request())
                    r.level, r.hard = max(r.level, req.level), r.hard or req.hard
                for app, due in list(self._polls.items()):
                    if due <= now:
                        del self._polls[app]
                        r = self._ready.setdefault(app, Request())
                        r.level = max(r.level, LATEST)
                if self._ready:
                    app = next(iter(self._ready))
                    return app, self._ready.pop(app)
                dues = [d[0] for d in self._delayed[:1]] + list(self._polls.values())
                self._cv.wait(timeout=min([1.0] + [max(0.0, d - now) for d in dues]))
        return None


# ============================================================================ the controller

@dataclass
class Comparison:
    revision: str
    source: dict
    desired: list[dict]
    resources: list[dict]
    sync_status: str
    health: dict
    images: list[str]


@dataclass
class AppMemo:
    """Per-app memory that is not in the Application object (it all could be lost on restart)."""
    failures: int = 0
    finished: dict[str, float] = field(default_factory=dict)  # operationState.finishedAt -> precise time


class Controller:
    def __init__(self, kube: Kube, namespace: str, repos: GitRepos, renderer: Renderer, *,
                 reconciliation: float = 120.0, jitter: float = 60.0,
                 self_heal_backoff: tuple[float, float, float] = (2.0, 3.0, 300.0),
                 watch_timeout: int = 300) -> None:
        self.kube, self.ns, self.repos, self.renderer = kube, namespace, repos, renderer
        self.reconciliation, self.jitter = reconciliation, jitter
        self.heal_base, self.heal_factor, self.heal_cap = self_heal_backoff
        self.watch_timeout = watch_timeout
        self.stop = threading.Event()
        self.queue = WorkQueue()
        self.app_res = Res(GROUP, VERSION, "Application", PLURAL, True)
        self.memo: dict[str, AppMemo] = {}
        self.apps: Reflector | None = None
        self.watchers: dict[tuple[str, str], Reflector] = {}
        self._watch_lock = threading.Lock()

    # ------------------------------------------------------------------ watches
    def start_watches(self, timeout: float = 60.0) -> None:
        self.apps = Reflector(self.kube, self.app_res.path(self.ns), self.on_app_event, self.stop,
                              "watch-applications", self.watch_timeout)
        self.apps.start()
        for api_version, kind in DEFAULT_KINDS:
            self.ensure_watch(self.kube.resource(api_version, kind))
        deadline = time.monotonic() + timeout
        for r in [self.apps, *self.watchers.values()]:
            if not r.synced.wait(max(0.1, deadline - time.monotonic())):
                raise RuntimeError(f"{r.name}: initial list did not complete within {timeout:.0f}s")

    def ensure_watch(self, res: Res) -> None:
        key = (res.api_version, res.kind)
        with self._watch_lock:
            if key in self.watchers:
                return
            r = Reflector(self.kube, res.path(), self.on_resource_event, self.stop,
                          f"watch-{res.plural}.{res.group or 'core'}", self.watch_timeout)
            self.watchers[key] = r
        log.info("watching %s %s cluster-wide", res.api_version, res.kind)
        r.start()

    def on_app_event(self, typ: str, old: dict | None, new: dict | None) -> None:
        obj = new or old
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            log.info("%s: Application deleted", name)
            self.queue.forget(name)
            self.memo.pop(name, None)
            return
        assert new is not None
        if typ == "ADDED":
            self.queue.add(name, LATEST)
            return
        ann = new["metadata"].get("annotations") or {}
        if new.get("operation") is not None:
            self.queue.add(name, NOTHING)
        if REFRESH in ann:
            self.queue.add(name, FORCE, hard=ann.get(REFRESH) == "hard")
        spec, st = new.get("spec") or {}, new.get("status") or {}
        compared = (st.get("sync") or {}).get("comparedTo")
        if compared is not None and (strip_none(spec.get("source")) != strip_none(compared.get("source"))
                                     or strip_none(spec.get("destination")) != strip_none(compared.get("destination"))):
            self.queue.add(name, FORCE)
        if old is not None and automated_policy(new) is not None and automated_policy(old) is None:
            log.info("%s: Enabled automated sync", name)
            self.queue.add(name, LATEST)

    def on_resource_event(self, typ: str, old: dict | None, new: dict | None) -> None:
        known = {a["metadata"]["name"] for a in self.apps.items()} if self.apps else set()
        for app in {tracked_app(old), tracked_app(new)} - {None}:
            if app in known:
                self.queue.add(app, RECENT)  # type: ignore[arg-type]

    def tracked_objects(self, app: str) -> list[dict]:
        out = []
        with self._watch_lock:
            watchers = list(self.watchers.values())
        for r in watchers:
            out += [o for o in r.items() if tracked_app(o) == app]
        return out

    # ------------------------------------------------------------------ main loop
    def run(self, ready_file: Path | None = None) -> None:
        self.start_watches()
        log.info("ready: %d Application(s) in %s, watching %s", len(self.apps.items()) if self.apps else 0,
                 self.ns, ", ".join(k for _, k in self.watchers))
        if ready_file:
            ready_file.write_text("ready\n")
        while not self.stop.is_set():
            item = self.queue.get(self.stop)
            if item is None:
                break
            name, req = item
            memo = self.memo.setdefault(name, AppMemo())
            try:
                self.process(name, req)
                memo.failures = 0
            except Exception as e:  # noqa: BLE001 - log, back off, retry this app
                memo.failures += 1
                delay = min(10.0, 0.5 * 2 ** memo.failures)
                if isinstance(e, (ApiError, OSError, HTTPError)):  # the API server is away or refused: expected
                    log.warning("%s: reconcile failed (%s: %s); retrying in %.1fs", name, type(e).__name__, e, delay)
                else:
                    log.exception("%s: reconcile failed (%s); retrying in %.1fs", name, e, delay)
                self.queue.add(name, max(req.level, RECENT), req.hard, delay=delay)

    def get_app(self, name: str) -> dict | None:
        return self.kube.get(self.app_res.path(self.ns, name))

    def process(self, name: str, req: Request) -> None:
        app = self.get_app(name)
        if app is None:
            return
        if app.get("operation") is not None:
            self.run_operation(app)
            return
        ann = app["metadata"].get("annotations") or {}
        level, hard = req.level, req.hard
        if REFRESH in ann:
            level, hard = FORCE, hard or ann[REFRESH] == "hard"
        if level > NOTHING:
            self.refresh(app, level, hard)

    # ------------------------------------------------------------------ writing the Application
    def update_app(self, app: dict, build: Callable[[dict], None], what: str) -> dict:
        """Apply build() to a copy of `app` and merge-patch the difference in metadata.annotations,
        status and operation, carrying app's resourceVersion. On 409 re-read and build again."""
        def part(a: dict) -> dict:
            return strip_none({"metadata": {"annotations": (a.get("metadata") or {}).get("annotations") or {}},
                               "status": a.get("status") or {}, "operation": a.get("operation")})
        for _ in range(10):
            new = copy.deepcopy(app)
            build(new)
            patch = merge_diff(part(app), part(new))
            if not patch:
                return app
            patch.setdefault("metadata", {})["resourceVersion"] = app["metadata"]["resourceVersion"]
            try:
                return self.kube.request("PATCH", self.app_res.path(self.ns, app["metadata"]["name"]), body=patch,
                                         content_type="application/merge-patch+json")
            except ApiError as e:
                if e.status != 409:
                    raise
                log.info("%s: conflict writing %s; re-reading", app["metadata"]["name"], what)
                fresh = self.get_app(app["metadata"]["name"])
                if fresh is None:
                    raise
                app = fresh
        raise RuntimeError(f"could not write {what}: too many conflicts")

    def event(self, app: dict, reason: str, message: str, warning: bool = False) -> None:
        md = app["metadata"]
        now = api_time()
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{md['name']}.{time.time_ns():x}", "namespace": md["namespace"]},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Application", "name": md["name"],
                               "namespace": md["namespace"], "uid": md.get("uid"),
                               "resourceVersion": md.get("resourceVersion")},
            "reason": reason, "message": message, "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.kube.request("POST", f"/api/v1/namespaces/{quote(md['namespace'], safe='')}/events", body=body)
        except Exception as e:  # noqa: BLE001 - events are best effort, as in Argo CD
            log.warning("%s: could not record event %s: %s", md["name"], reason, e)
        log.info("%s: event %s: %s", md["name"], reason, message)

    # ------------------------------------------------------------------ comparison
    def validate(self, app: dict) -> str | None:
        spec = app.get("spec") or {}
        if spec.get("sources") and not spec.get("source"):
            return "multi-source Applications (spec.sources) are not supported by the Argo CD stand-in"
        if not spec.get("source"):
            return "spec.source is required"
        if (spec.get("project") or "default") != "default":
            return f"Application referencing project {spec.get('project')} which does not exist"
        dest = spec.get("destination") or {}
        if dest.get("server") not in (None, "", IN_CLUSTER_SERVER) or dest.get("name") not in (None, "", "in-cluster"):
            return (f"application destination server '{dest.get('server') or dest.get('name')}' is not the "
                    f"in-cluster destination ({IN_CLUSTER_SERVER}), the only one the stand-in knows")
        if not dest.get("namespace"):
            return "spec.destination.namespace is required by the stand-in"
        return None

    def desired_state(self, app: dict, source: dict, sha: str, hard: bool) -> list[dict]:
        """Rendered manifests with namespace defaulted and the tracking annotation added."""
        name, dest_ns = app["metadata"]["name"], app["spec"]["destination"]["namespace"]
        out = []
        for m in self.renderer.render(name, source, dest_ns, sha, hard=hard):
            try:
                res = self.kube.resource(m["apiVersion"], m["kind"])
            except ApiError as e:
                raise RenderError(f"{m['kind']}/{m['metadata']['name']}: {e.message}") from e
            md = m["metadata"]
            if res.namespaced:
                md["namespace"] = md.get("namespace") or dest_ns
            else:
                md.pop("namespace", None)
            md.setdefault("annotations", {})
            if md["annotations"] is None:
                md["annotations"] = {}
            md["annotations"][TRACKING] = tracking_id(name, m)
            self.ensure_watch(res)
            out.append(m)
        return out

    def compare(self, app: dict, revision: str, source: dict, hard: bool) -> Comparison:
        name = app["metadata"]["name"]
        desired = self.desired_state(app, source, revision, hard)
        resources: list[dict] = []
        healths: list[tuple[str, str, bool]] = []
        images: set[str] = set()
        keys = set()

        def entry(obj: dict, live: dict | None, synced: bool, extra: bool = False) -> None:
            kind, md = obj["kind"], obj["metadata"]
            e: dict[str, Any] = {"group": group_of(obj["apiVersion"]), "version": version_of(obj["apiVersion"]),
                                 "kind": kind, "namespace": md.get("namespace") or "", "name": md["name"],
                                 "status": "Synced" if synced else "OutOfSync"}
            h = resource_health(live, kind)
            if h is not None:
                e["health"] = {"status": h[0], **({"message": h[1]} if h[1] else {})}
                healths.append((h[0], h[1], live is None))
            if extra:
                e["requiresPruning"] = True
            resources.append(e)
            if live is not None and kind in ("Deployment", "StatefulSet", "DaemonSet"):
                pod = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
                images.update(c.get("image") for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])
                              if c.get("image"))

        for m in desired:
            res = self.kube.resource(m["apiVersion"], m["kind"])
            live = self.kube.get(res.path(m["metadata"].get("namespace"), m["metadata"]["name"]))
            keys.add((group_of(m["apiVersion"]), m["kind"], m["metadata"].get("namespace") or "", m["metadata"]["name"]))
            want = {k: v for k, v in m.items() if k != "status"}
            entry(m, live, live is not None and is_subset(want, live))
        for obj in self.tracked_objects(name):
            k = (group_of(obj["apiVersion"]), obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
            if k in keys:
                continue
            res = self.kube.resource(obj["apiVersion"], obj["kind"])
            live = self.kube.get(res.path(k[2], k[3]))
            if live is not None and tracked_app(live) == name:
                live.setdefault("apiVersion", obj["apiVersion"])
                live.setdefault("kind", obj["kind"])
                entry(live, live, False, extra=True)
        resources.sort(key=lambda e: "/".join([e["group"], e["kind"], e["namespace"], e["name"]]))
        sync_status = "Synced" if all(e["status"] == "Synced" for e in resources) else "OutOfSync"
        # Argo CD >= 3.4: missing resources count only when every resource is missing
        counted = [h for h in healths if not h[2]] or ([("Missing", "", True)] if healths else [])
        worst = max(counted, key=lambda h: HEALTH_ORDER.index(h[0])) if counted else ("Healthy", "", False)
        health = {"status": worst[0], **({"message": worst[1]} if worst[1] else {})}
        return Comparison(revision, source, desired, resources, sync_status, health, sorted(images))

    def refresh(self, app: dict, level: int, hard: bool) -> None:
        """CompareAppState + autoSync + persistAppStatus for one app."""
        name = app["metadata"]["name"]
        spec = app.get("spec") or {}
        st = app.get("status") or {}
        source = copy.deepcopy(spec.get("source") or {})
        compared = (st.get("sync") or {}).get("comparedTo") or {}
        if level == RECENT and (strip_none(compared.get("source")) != strip_none(source) or not (st.get("sync") or {}).get("revision")):
            level = FORCE
        t0 = time.monotonic()
        cond: dict | None = None
        cmp: Comparison | None = None
        revision = (st.get("sync") or {}).get("revision") or ""
        invalid = self.validate(app)
        if invalid:
            cond = {"type": "InvalidSpecError", "message": invalid}
        else:
            try:
                if level != RECENT:
                    revision = self.repos.resolve(source.get("repoURL", ""), source.get("targetRevision"))
                cmp = self.compare(app, revision, source, hard)
            except RenderError as e:
                cond = {"type": "ComparisonError",
                        "message": f"Failed to load target state: failed to generate manifest for source 1 of 1: "
                                   f"rpc error: code = Unknown desc = {e}"}
        sync_cond: dict | None = None
        if cmp is not None:
            sync_cond = self.auto_sync(app, cmp)
            app = self.get_app(name) or app  # auto_sync may have written the operation
        now = api_time()

        def build(a: dict) -> None:
            s = a.setdefault("status", {})
            ann = a["metadata"].get("annotations") or {}
            ann.pop(REFRESH, None)
            keep = [c for c in s.get("conditions") or []
                    if c.get("type") not in ("ComparisonError", "InvalidSpecError", "SyncError")]
            for c in (cond, sync_cond):
                if c:
                    prev = next((x for x in s.get("conditions") or []
                                 if x.get("type") == c["type"] and x.get("message") == c["message"]), None)
                    keep.append({**c, "lastTransitionTime": (prev or {}).get("lastTransitionTime") or now})
            if keep:
                s["conditions"] = keep
            else:
                s.pop("conditions", None)
            if level >= LATEST or not s.get("reconciledAt"):
                s["reconciledAt"] = now
            old_health = s.get("health") or {}
            if cmp is None:
                s["sync"] = {"status": "Unknown", **({"revision": revision} if revision else {}),
                             "comparedTo": {"source": source, "destination": copy.deepcopy(spec.get("destination") or {})}}
                if invalid:
                    s["health"] = {"status": "Unknown"}
            else:
                s["sync"] = {"status": cmp.sync_status, "revision": cmp.revision,
                             "comparedTo": {"source": source, "destination": copy.deepcopy(spec.get("destination") or {})}}
                s["health"] = dict(cmp.health)
                s["resources"] = cmp.resources
                s["summary"] = {**(s.get("summary") or {}), "images": cmp.images}
                s["sourceType"] = "Helm"
                s["resourceHealthSource"] = "inline"
                s["controllerNamespace"] = self.ns
            h = s.get("health") or {}
            if h.get("status") and h.get("status") == old_health.get("status") and old_health.get("lastTransitionTime"):
                h["lastTransitionTime"] = old_health["lastTransitionTime"]
            elif h.get("status"):
                h["lastTransitionTime"] = now

        before = app.get("status") or {}
        written = self.update_app(app, build, "status")
        after = written.get("status") or {}
        for what, key in (("sync", "sync"), ("health", "health")):
            a, b = (before.get(key) or {}).get("status"), (after.get(key) or {}).get("status")
            if a != b:
                self.event(written, "ResourceUpdated", f"Updated {what} status: {a or ''} -> {b}")
        drift = [f"{r['kind']}/{r['name']}{' (requires pruning)' if r.get('requiresPruning') else ''}"
                 for r in (cmp.resources if cmp else []) if r["status"] != "Synced"]
        log.info("%s: refreshed (%s%s) in %.0f ms: sync=%s revision=%s health=%s%s%s", name, LEVEL_NAMES[level],
                 ", hard" if hard else "", (time.monotonic() - t0) * 1000, (after.get("sync") or {}).get("status"),
                 ((after.get("sync") or {}).get("revision") or "")[:12], (after.get("health") or {}).get("status"),
                 f" out of sync: {', '.join(drift)}" if drift else "",
                 f" ({cond['type']}: {cond['message'][:300]})" if cond else "")
        if level >= LATEST and self.reconciliation > 0:
            self.queue.schedule_poll(name, self.reconciliation + random.uniform(0, self.jitter))

    # ------------------------------------------------------------------ automated sync
    def heal_delay(self, attempts: int) -> float:
        return 0.0 if attempts <= 0 else min(self.heal_cap, self.heal_base * self.heal_factor ** (attempts - 1))

    def auto_sync(self, app: dict, cmp: Comparison) -> dict | None:
        """appcontroller.go autoSync: maybe write an operation; return a SyncError condition or None."""
        name = app["metadata"]["name"]
        auto = automated_policy(app)
        if auto is None or app.get("operation") is not None or app["metadata"].get("deletionTimestamp"):
            return None
        if cmp.sync_status != "OutOfSync":
            return None
        prune = bool(auto.get("prune"))
        if not prune and all(r["status"] == "Synced" or r.get("requiresPruning") for r in cmp.resources):
            log.info("%s: Skipping auto-sync: need to prune extra resources only but automated prune is disabled", name)
            return None
        op_state = (app.get("status") or {}).get("operationState") or {}
        last = op_state.get("syncResult") or {}
        attempted = bool((op_state.get("operation") or {}).get("sync") is not None and last
                         and last.get("revision") == cmp.revision
                         and source_without_revision(last.get("source")) == source_without_revision(cmp.source))
        phase = op_state.get("phase")
        op: dict[str, Any] = {
            "sync": {"revision": cmp.revision, "prune": prune},
            "initiatedBy": {"automated": True},
            "retry": copy.deepcopy(((app.get("spec") or {}).get("syncPolicy") or {}).get("retry") or {"limit": 5}),
        }
        opts = ((app.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions")
        if opts:
            op["sync"]["syncOptions"] = list(opts)
        if attempted and (not auto.get("selfHeal") or phase != "Succeeded"):
            if phase != "Succeeded":
                log.warning("%s: Skipping auto-sync: failed previous sync attempt to %s", name, cmp.revision)
                return {"type": "SyncError", "message": f"Failed sync attempt to {cmp.revision}: {op_state.get('message', '')}"}
            log.info("%s: Skipping auto-sync: most recent sync already to %s", name, cmp.revision)
            return None
        if attempted:  # self-heal
            attempts = int(((op_state.get("operation") or {}).get("sync") or {}).get("autoHealAttemptsCount") or 0)
            finished_s = op_state.get("finishedAt")
            finished = self.memo.setdefault(name, AppMemo()).finished.get(finished_s or "") or parse_time(finished_s)
            remaining = self.heal_delay(attempts) - (time.time() - finished if finished else 0.0)
            if remaining > 0:
                log.info("%s: Skipping auto-sync: already attempted sync to %s with self-heal back-off (attempt %d, "
                         "retrying in %.1fs)", name, cmp.revision, attempts + 1, remaining)
                self.queue.add(name, LATEST, delay=remaining)
                return None
            op["sync"]["autoHealAttemptsCount"] = attempts + 1
            op["sync"]["resources"] = [{"group": r["group"], "kind": r["kind"], "name": r["name"]}
                                       for r in cmp.resources if r["status"] != "Synced"]
        if prune and not auto.get("allowEmpty") and cmp.resources and all(r.get("requiresPruning") for r in cmp.resources):
            msg = f"Skipping sync attempt to {cmp.revision}: auto-sync will wipe out all resources"
            log.warning("%s: %s", name, msg)
            return {"type": "SyncError", "message": msg}

        def build(a: dict) -> None:
            if a.get("operation") is not None:
                raise AnotherOperation()
            a["operation"] = op
        try:
            self.update_app(app, build, "operation")
        except AnotherOperation:
            log.info("%s: Failed to initiate auto-sync: another operation is already in progress", name)
            return None
        self.event(app, "OperationStarted", f"Initiated automated sync to '{cmp.revision}'")
        return None

    # ------------------------------------------------------------------ operations
    def run_operation(self, app: dict) -> None:
        """processRequestedAppOperation: run the sync in `operation`, record operationState/history."""
        name = app["metadata"]["name"]
        op = copy.deepcopy(app["operation"])
        st = copy.deepcopy((app.get("status") or {}).get("operationState") or {})
        retry = op.get("retry") or {}
        if st.get("phase") in ("Running", "Terminating") and strip_none(st.get("operation")) == strip_none(op):
            state = st
            if state.get("finishedAt"):  # a failed attempt waiting for its retry
                backoff = retry.get("backoff") or {}
                wait = min(parse_duration(backoff.get("duration"), 5.0) * float(backoff.get("factor") or 2) ** (
                    int(state.get("retryCount") or 1) - 1), parse_duration(backoff.get("maxDuration"), 180.0))
                remaining = (parse_time(state["finishedAt"]) or 0) + wait - time.time()
                if remaining > 0:
                    self.queue.add(name, NOTHING, delay=remaining)
                    return
                state.pop("finishedAt", None)
                log.info("%s: retrying operation (attempt #%s)", name, state.get("retryCount"))
            else:
                log.info("%s: resuming in-progress operation", name)
        else:
            state = {"operation": op, "phase": "Running", "message": "", "startedAt": api_time()}

            def start(a: dict) -> None:
                a.setdefault("status", {})["operationState"] = copy.deepcopy(state)
            app = self.update_app(app, start, "operationState")
            if not (op.get("initiatedBy") or {}).get("automated"):
                self.event(app, "OperationStarted", self._started_message(app, op))
        started = time.time()
        try:
            self.sync(app, op, state)
        except Exception as e:  # noqa: BLE001 - an unexpected failure ends the operation with Error
            if isinstance(e, (ApiError, OSError, HTTPError)):
                log.warning("%s: sync failed: %s: %s", name, type(e).__name__, e)
            else:
                log.exception("%s: sync failed", name)
            state.update(phase="Error", message=str(e))
        if state["phase"] in ("Failed", "Error"):
            limit = int(retry.get("limit") or 0)
            count = int(state.get("retryCount") or 0)
            if limit < 0 or count < limit:
                state["retryCount"] = count + 1
                backoff = retry.get("backoff") or {}
                wait = min(parse_duration(backoff.get("duration"), 5.0) * float(backoff.get("factor") or 2) ** count,
                           parse_duration(backoff.get("maxDuration"), 180.0))
                state["message"] = (f"{state['message']}. Retrying attempt #{count + 1} at "
                                    f"{datetime.fromtimestamp(time.time() + wait).strftime('%I:%M%p')}.")
                state["phase"] = "Running"
                state["finishedAt"] = api_time()

                def later(a: dict) -> None:
                    a.setdefault("status", {})["operationState"] = copy.deepcopy(state)
                self.update_app(app, later, "operationState")
                log.warning("%s: sync attempt failed; retry #%d in %.0fs: %s", name, count + 1, wait, state["message"])
                self.queue.add(name, NOTHING, delay=wait)
                return
            if count:
                state["message"] = f"{state['message']} (retried {count} times)."
        finished = time.time()
        state["finishedAt"] = api_time(finished)
        self.memo.setdefault(name, AppMemo()).finished = {state["finishedAt"]: finished}
        sync = op.get("sync") or {}
        record = state["phase"] == "Succeeded" and not sync.get("dryRun") and not sync.get("resources")

        def finish(a: dict) -> None:
            s = a.setdefault("status", {})
            s["operationState"] = copy.deepcopy(state)
            a["operation"] = None
            if record:
                hist = list(s.get("history") or [])
                result = state.get("syncResult") or {}
                hist.append(strip_none({
                    "id": (hist[-1].get("id", -1) + 1) if hist else 0,
                    "revision": result.get("revision"), "deployedAt": state["finishedAt"],
                    "deployStartedAt": state["startedAt"], "source": copy.deepcopy(result.get("source")),
                    "initiatedBy": copy.deepcopy(op.get("initiatedBy") or {}),
                }))
                limit = (a.get("spec") or {}).get("revisionHistoryLimit")
                limit = 10 if limit is None else max(0, int(limit))
                s["history"] = hist[len(hist) - limit:] if limit else []
        app = self.update_app(app, finish, "operation result")
        result = state.get("syncResult") or {}
        words = ["Partial sync operation" if sync.get("resources") else "Sync operation"]
        if result.get("revision"):
            words += ["to", result["revision"]]
        words += ["succeeded"] if state["phase"] == "Succeeded" else ["failed:", state.get("message", "")]
        self.event(app, "OperationCompleted", " ".join(words), warning=state["phase"] != "Succeeded")
        log.info("%s: operation %s in %.0f ms: %s [%s]", name, state["phase"], (finished - started) * 1000,
                 state.get("message"), ", ".join(f"{r['kind']}/{r['name']}: {r.get('status')}"
                                                  for r in (state.get("syncResult") or {}).get("resources") or []))
        self.refresh(app, FORCE, False)

    def _started_message(self, app: dict, op: dict) -> str:
        sync = op.get("sync") or {}
        if sync.get("source"):
            for h in reversed((app.get("status") or {}).get("history") or []):
                if h.get("revision") == sync.get("revision") and strip_none(h.get("source")) == strip_none(sync["source"]):
                    return f"initiated rollback to {h.get('id')}"
        return f"initiated sync to {sync.get('revision') or ((app.get('spec') or {}).get('source') or {}).get('targetRevision') or 'HEAD'}"

    def sync(self, app: dict, op: dict, state: dict) -> None:
        """SyncAppState: render the requested revision/source and server-side apply it."""
        name = app["metadata"]["name"]
        sync = op.get("sync")
        if sync is None:
            state.update(phase="Failed", message="the stand-in only runs sync operations")
            return
        invalid = self.validate(app)
        if invalid:
            state.update(phase="Error", message=f"InvalidSpecError: {invalid}")
            return
        source = copy.deepcopy(sync.get("source") or app["spec"]["source"])
        try:
            sha = self.repos.resolve(source.get("repoURL", ""), sync.get("revision") or source.get("targetRevision"))
            desired = self.desired_state(app, source, sha, hard=False)
        except RenderError as e:
            state.update(phase="Error", message=f"ComparisonError: Failed to load target state: {e}")
            return
        state["syncResult"] = {"revision": sha, "source": source, "resources": []}
        results = state["syncResult"]["resources"]
        selected = sync.get("resources") or []

        def chosen(m: dict) -> bool:
            return not selected or any(
                r.get("kind") == m["kind"] and r.get("name") == m["metadata"]["name"]
                and (r.get("group") or "") == group_of(m["apiVersion"])
                and (not r.get("namespace") or r.get("namespace") == m["metadata"].get("namespace"))
                for r in selected)
        dry = bool(sync.get("dryRun"))
        query = {"fieldManager": FIELD_MANAGER, "force": "true", **({"dryRun": "All"} if dry else {})}
        failures: list[str] = []
        dest_ns = app["spec"]["destination"]["namespace"]
        if has_option(sync_options(app, sync), "CreateNamespace=true") and not selected:
            ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_ns}}
            existed = self.kube.get(f"/api/v1/namespaces/{quote(dest_ns, safe='')}") is not None
            try:
                if not existed:
                    self.kube.request("PATCH", f"/api/v1/namespaces/{quote(dest_ns, safe='')}", query=query,
                                      body=ns_obj, content_type="application/apply-patch+yaml")
                results.append({"group": "", "version": "v1", "kind": "Namespace", "namespace": "", "name": dest_ns,
                                "status": "Synced", "message": f"namespace/{dest_ns} {'unchanged' if existed else 'created'}",
                                "hookPhase": "Running", "syncPhase": "PreSync"})
            except ApiError as e:
                failures.append(f"namespace/{dest_ns}: {e.message}")
                results.append({"group": "", "version": "v1", "kind": "Namespace", "namespace": "", "name": dest_ns,
                                "status": "SyncFailed", "message": e.message, "hookPhase": "Failed", "syncPhase": "PreSync"})

        def order(m: dict) -> tuple[int, str, str]:
            k = m["kind"]
            return (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k, m["metadata"]["name"])
        for m in sorted((m for m in desired if chosen(m)), key=order):
            res = self.kube.resource(m["apiVersion"], m["kind"])
            md = m["metadata"]
            ref = f"{m['kind'].lower()}{'.' + res.group if res.group else ''}/{md['name']}"
            r = {"group": res.group, "version": res.version, "kind": m["kind"], "namespace": md.get("namespace") or "",
                 "name": md["name"], "syncPhase": "Sync"}
            if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
                r["images"] = [c.get("image") for c in (m.get("spec") or {}).get("template", {}).get("spec", {}).get(
                    "containers") or [] if c.get("image")]
            try:
                self.kube.request("PATCH", res.path(md.get("namespace"), md["name"]), query=query, body=m,
                                  content_type="application/apply-patch+yaml")
                r.update(status="Synced", message=f"{ref} serverside-applied{' (dry run)' if dry else ''}", hookPhase="Running")
            except ApiError as e:
                failures.append(f"{ref}: {e.message}")
                r.update(status="SyncFailed", message=e.message, hookPhase="Failed")
            results.append(r)
        # prune: tracked objects no longer rendered (in a partial sync, only the selected ones)
        keys = {(group_of(m["apiVersion"]), m["kind"], m["metadata"].get("namespace") or "", m["metadata"]["name"])
                for m in desired}
        extras = [o for o in self.tracked_objects(name) if chosen(o) and
                  (group_of(o["apiVersion"]), o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"]) not in keys]
        for o in sorted(extras, key=order, reverse=True):
            res = self.kube.resource(o["apiVersion"], o["kind"])
            md = o["metadata"]
            ref = f"{o['kind'].lower()}{'.' + res.group if res.group else ''}/{md['name']}"
            r = {"group": res.group, "version": res.version, "kind": o["kind"], "namespace": md.get("namespace") or "",
                 "name": md["name"], "syncPhase": "Sync"}
            live = self.kube.get(res.path(md.get("namespace"), md["name"]))
            if live is None or tracked_app(live) != name:
                continue
            if not sync.get("prune"):
                r.update(status="PruneSkipped", message="ignored (requires pruning)")
            elif live["metadata"].get("deletionTimestamp"):
                r.update(status="Pruned", message="pruned (already pending deletion)", hookPhase="Succeeded")
            else:
                try:
                    self.kube.request("DELETE", res.path(md.get("namespace"), md["name"]),
                                      query={"propagationPolicy": "Foreground", **({"dryRun": "All"} if dry else {})})
                    r.update(status="Pruned", message="pruned", hookPhase="Succeeded")
                except ApiError as e:
                    if e.status == 404:
                        r.update(status="Pruned", message="pruned", hookPhase="Succeeded")
                    else:
                        failures.append(f"{ref}: {e.message}")
                        r.update(status="SyncFailed", message=e.message, hookPhase="Failed")
            results.append(r)
        if failures:
            state.update(phase="Failed", message="one or more objects failed to apply, reason: " + "; ".join(failures))
        else:
            state.update(phase="Succeeded", message="successfully synced (all tasks run)")


class AnotherOperation(Exception):
    pass


# ============================================================================ command line

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="argocd_standin.py",
                                 description="A stand-in for Argo CD's application controller (tests only).")
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="kubeconfig file (default $KUBECONFIG)")
    ap.add_argument("--context", default=os.environ.get("DRILLS_KUBE_CONTEXT"), help="kubeconfig context")
    ap.add_argument("--namespace", default="argocd", help="namespace of the Applications (default argocd)")
    ap.add_argument("--repo", action="append", default=[], metavar="URL=PATH",
                    help="serve repoURL URL from the local (bare) git repository PATH; repeatable")
    ap.add_argument("--reconciliation-seconds", type=float, default=120.0,
                    help="Git polling period (timeout.reconciliation; 0 disables polling; default 120)")
    ap.add_argument("--jitter-seconds", type=float, default=60.0, help="random extra 0..N s per poll (default 60)")
    ap.add_argument("--self-heal-backoff", default="2,3,300", metavar="BASE,FACTOR,CAP",
                    help="self-heal back-off: seconds, factor, cap seconds (default 2,3,300 -> 0,2,6,18,... s)")
    ap.add_argument("--helm", default=os.environ.get("HELM_BIN") or shutil.which("helm") or "helm",
                    help="helm binary (default $HELM_BIN, else helm on PATH)")
    ap.add_argument("--git", default=shutil.which("git") or "git", help="git binary")
    ap.add_argument("--work-dir", default=None, help="scratch directory (default: a new temp dir, removed at exit)")
    ap.add_argument("--watch-timeout-seconds", type=int, default=300,
                    help="server-side timeout of each watch request; the watch then resumes (default 300)")
    ap.add_argument("--ready-file", default=None, help="write this file once the initial lists are done")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    try:
        base, factor, cap = (float(x) for x in args.self_heal_backoff.split(","))
    except ValueError:
        ap.error("--self-heal-backoff must be BASE,FACTOR,CAP, e.g. 2,3,300")
    args.self_heal = (base, factor, cap)
    repos = {}
    for spec in args.repo:
        url, sep, path = spec.rpartition("=")
        if not sep or not url or not path:
            ap.error(f"--repo {spec!r}: expected URL=PATH")
        if not Path(path).exists():
            ap.error(f"--repo {spec!r}: {path} does not exist")
        repos[url] = Path(path).resolve()
    args.repos = repos
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s.%(msecs)03d %(levelname)s [%(threadName)s] %(message)s",
                        datefmt="%H:%M:%S")
    if log.getEffectiveLevel() > logging.DEBUG:  # urllib3 warns on each connection retry while the API is away
        logging.getLogger("urllib3").setLevel(logging.ERROR)
    from kubernetes import config as kconfig

    api_client = kconfig.new_client_from_config(config_file=args.kubeconfig, context=args.context)
    workdir = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="argocd-standin-"))
    workdir.mkdir(parents=True, exist_ok=True)
    repos = GitRepos(args.repos, args.git, workdir)
    ctrl = Controller(Kube(api_client), args.namespace, repos, Renderer(repos, args.helm, workdir),
                      reconciliation=args.reconciliation_seconds, jitter=args.jitter_seconds,
                      self_heal_backoff=args.self_heal, watch_timeout=args.watch_timeout_seconds)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        ctrl.stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("Argo CD stand-in: namespace %s, repos %s, helm %s, reconciliation %.0fs + 0..%.0fs, self-heal %s",
             args.namespace, {u: str(p) for u, p in args.repos.items()}, args.helm, args.reconciliation_seconds,
             args.jitter_seconds, args.self_heal_backoff)
    try:
        ctrl.run(Path(args.ready_file) if args.ready_file else None)
    finally:
        if not args.work_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
