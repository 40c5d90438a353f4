"""A simulated Argo CD application controller, stand-in for the real one in the simulator.

What it does like Argo CD (argo-cd controller/appcontroller.go, gitops-engine): polls Git every
reconciliation period plus jitter, or at once when the refresh annotation is set or a managed
resource changes; renders the chart at the target revision with the Application's value files;
compares only the fields the rendered manifests set; reports sync status with the revision and
health aggregated from managed resources (Deployment health as gitops-engine computes it; from
3.4 a missing resource does not make the app Missing unless all are); auto-syncs a new revision
once; self-heals drift with the 0, 2, 6, 18 ... s back-off reset only by a non-self-heal sync,
syncing only the out-of-sync resources and adding no history entry; runs operations written to
the ``operation`` field (which is how a rollback to a history id is run) and records
``operationState`` and ``status.history``.

What the real one does that this does not: repo-server caching, sync waves and hooks, sync
retries after failures (syncs here never fail), the resource tree, ignoreDifferences, multiple
sources, projects and RBAC, notifications, and diffing of fields beyond what the chart sets.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from runner.targets.sim.chart import merged_values, render
from runner.targets.sim.config import SimConfig
from runner.targets.sim.gitrepo import SimGit
from runner.targets.sim.kernel import Kernel
from runner.view import Obj, condition

TRACKING = "argocd.argoproj.io/tracking-id"
REFRESH = "argocd.argoproj.io/refresh"
HEALTH_ORDER = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"]
HEALTH_CHECKED = {"Deployment", "Service", "Ingress", "ReplicaSet", "Pod", "PersistentVolumeClaim"}


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field set in ``desired`` has the same value in ``live``."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and is_subset(v, live[k]) for k, v in desired.items() if v is not None)
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(is_subset(a, b) for a, b in zip(desired, live, strict=True))
    return bool(desired == live)


def deployment_health(d: Obj) -> tuple[str, str]:
    """gitops-engine pkg/health/health_deployment.go, in order."""
    spec, st = d.get("spec") or {}, d.get("status") or {}
    if spec.get("paused"):
        return "Suspended", "Deployment is paused"
    if d["metadata"].get("deletionTimestamp"):
        return "Progressing", "Pending deletion"
    if (d["metadata"].get("generation") or 0) > (st.get("observedGeneration") or 0):
        return "Progressing", "Waiting for rollout to finish: observed deployment generation less than desired generation"
    prog = condition(d, "Progressing") or {}
    name = d["metadata"]["name"]
    if prog.get("reason") == "ProgressDeadlineExceeded":
        return "Degraded", f'Deployment "{name}" exceeded its progress deadline'
    want = spec.get("replicas", 1)
    if (st.get("updatedReplicas") or 0) < want:
        return "Progressing", f"Waiting for rollout to finish: {st.get('updatedReplicas') or 0} out of {want} new replicas have been updated..."
    if (st.get("replicas") or 0) > (st.get("updatedReplicas") or 0):
        return "Progressing", f"Waiting for rollout to finish: {(st.get('replicas') or 0) - (st.get('updatedReplicas') or 0)} old replicas are pending termination..."
    if (st.get("availableReplicas") or 0) < (st.get("updatedReplicas") or 0):
        return "Progressing", f"Waiting for rollout to finish: {st.get('availableReplicas') or 0} of {st.get('updatedReplicas') or 0} updated replicas are available..."
    return "Healthy", ""


def resource_health(obj: Obj | None) -> tuple[str, str] | None:
    if obj is None:
        return "Missing", ""
    if obj["kind"] == "Deployment":
        return deployment_health(obj)
    if obj["kind"] == "Service":
        return "Healthy", ""
    return None


@dataclass
class AppState:
    synced_revision: str | None = None
    synced_source: str | None = None
    self_heal_attempts: int = 0
    last_finished: float = -1e9
    operation_running: bool = False


class ArgoCDController:
    def __init__(self, k: Kernel, cfg: SimConfig, git: SimGit, namespace: str = "argocd") -> None:
        self.k = k
        self.cfg = cfg.argocd
        self.git = git
        self.ns = namespace
        self.state: dict[str, AppState] = {}
        self.v34 = tuple(int(x) for x in self.cfg.version.split(".")[:2]) >= (3, 4)
        k.listeners.append(self.on_change)

    def add(self, app: Obj) -> None:
        name = app["metadata"]["name"]
        self.state[name] = AppState()
        self.k.create(app)
        self._schedule_poll(name, first=True)

    def _schedule_poll(self, name: str, first: bool = False) -> None:
        delay = 0.0 if first else self.cfg.reconciliation_seconds + self.k.rng.uniform(0, self.cfg.reconciliation_jitter)

        def poll() -> None:
            self.compare(name)
            self._schedule_poll(name)
        self.k.schedule(delay, poll)

    # --- triggers -----------------------------------------------------------------------

    def on_change(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        obj = after or before
        assert obj is not None
        if obj["kind"] == "Application" and obj["metadata"].get("namespace") == self.ns and after is not None:
            name = obj["metadata"]["name"]
            if name not in self.state:
                return
            if (after["metadata"].get("annotations") or {}).get(REFRESH):
                self.k.schedule(self.cfg.refresh_seconds, lambda: self.compare(name), once=f"argo-refresh/{name}")
            if after.get("operation") and not self.state[name].operation_running:
                self.k.schedule(self.cfg.operation_start_seconds, lambda: self.run_operation(name), once=f"argo-op/{name}")
            if before is not None and before.get("spec") != after.get("spec"):
                self.k.schedule(self.cfg.operation_start_seconds, lambda: self.compare(name), once=f"argo-spec/{name}")
            return
        tracking = ((obj["metadata"].get("annotations") or {}).get(TRACKING) or "")
        app = tracking.split(":", 1)[0]
        if app in self.state:
            self.k.schedule(self.cfg.resource_change_seconds, lambda: self.compare(app), once=f"argo-res/{app}")

    # --- comparison ---------------------------------------------------------------------

    def desired(self, app: Obj, revision: str, source: dict[str, Any]) -> list[Obj]:
        helm = source.get("helm") or {}
        name = app["metadata"]["name"]
        ns = app["spec"]["destination"]["namespace"]
        values = merged_values(self.git.files_at(revision), source["path"], list(helm.get("valueFiles") or []))
        for p in helm.get("parameters") or []:
            from runner.targets.sim.chart import set_dotted
            set_dotted(values, p["name"], str(p["value"]))
        manifests = render(values, helm.get("releaseName") or name, ns)
        for m in manifests:
            m["metadata"].setdefault("annotations", {})[TRACKING] = (
                f"{name}:{m['apiVersion'].split('/')[0] if '/' in m['apiVersion'] else ''}/{m['kind']}:{ns}/{m['metadata']['name']}")
        return manifests

    def compare(self, name: str) -> None:
        k = self.k
        app = k.get("Application", self.ns, name)
        if app is None:
            return
        ann = app["metadata"].get("annotations") or {}
        if REFRESH in ann:
            del ann[REFRESH]
        revision = self.git.head()
        source = app["spec"]["source"]
        status = app.setdefault("status", {})
        try:
            desired = self.desired(app, revision, source)
        except (FileNotFoundError, KeyError, TypeError) as exc:
            status["sync"] = {"status": "Unknown", "revision": revision}
            status["conditions"] = [{"type": "ComparisonError", "message": f"rpc error: helm template: {exc}",
                                     "lastTransitionTime": k.api_time()}]
            k.update(app)
            return
        resources, out_of_sync, healths, images = [], [], [], set()
        for m in desired:
            ns, kind, rname = m["metadata"]["namespace"], m["kind"], m["metadata"]["name"]
            live = k.peek(kind, ns, rname)
            synced = live is not None and is_subset({x: m[x] for x in m if x not in ("status",)}, live)
            h = resource_health(live)
            entry: dict[str, Any] = {"group": m["apiVersion"].split("/")[0] if "/" in m["apiVersion"] else "",
                                     "version": m["apiVersion"].split("/")[-1], "kind": kind, "namespace": ns,
                                     "name": rname, "status": "Synced" if synced else "OutOfSync"}
            if h is not None:
                entry["health"] = {"status": h[0], **({"message": h[1]} if h[1] else {})}
                healths.append((h[0], h[1], live is None))
            resources.append(entry)
            if not synced:
                out_of_sync.append(m)
            if live is not None and kind == "Deployment":
                images.update(c["image"] for c in live["spec"]["template"]["spec"]["containers"])
        sync_status = "OutOfSync" if out_of_sync else "Synced"
        counted = [h for h in healths if not (h[2] and self.v34)] or ([("Missing", "", True)] if healths else [])
        worst = max(counted, key=lambda h: HEALTH_ORDER.index(h[0])) if counted else ("Healthy", "", False)
        old_health = (status.get("health") or {})
        health = {"status": worst[0], **({"message": worst[1]} if worst[1] else {})}
        health["lastTransitionTime"] = (old_health.get("lastTransitionTime") if old_health.get("status") == worst[0]
                                        else k.api_time())
        old_sync = (status.get("sync") or {}).get("status")
        status.update({
            "sync": {"status": sync_status, "revision": revision,
                     "comparedTo": {"source": copy.deepcopy(source), "destination": copy.deepcopy(app["spec"]["destination"])}},
            "health": health,
            "resources": resources,
            "reconciledAt": k.api_time(),
            "summary": {"images": sorted(images)},
            "sourceType": "Helm",
            "resourceHealthSource": "inline",
        })
        status.pop("conditions", None)
        if old_sync != sync_status:
            k.truth("app-sync", f"application/{name}", f"{sync_status} {revision[:12]}")
        if old_health.get("status") != worst[0]:
            k.truth("app-health", f"application/{name}", worst[0])
        k.update(app)
        self.autosync(name, revision, source, out_of_sync)

    # --- syncing ------------------------------------------------------------------------

    def autosync(self, name: str, revision: str, source: dict[str, Any], out_of_sync: list[Obj]) -> None:
        app = self.k.peek("Application", self.ns, name)
        st = self.state[name]
        if app is None or not out_of_sync or st.operation_running or app.get("operation"):
            return
        auto = (app["spec"].get("syncPolicy") or {}).get("automated")
        if auto is None or auto.get("enabled", True) is False:
            return
        source_key = repr(sorted(source.items(), key=str))
        if revision != st.synced_revision or source_key != st.synced_source:
            self.start(name, revision, None, None, automated=True, self_heal=False)
            return
        if not auto.get("selfHeal"):
            return
        n = st.self_heal_attempts
        backoff = 0.0 if n == 0 else min(self.cfg.self_heal_backoff_cap_seconds,
                                          self.cfg.self_heal_backoff_seconds * self.cfg.self_heal_backoff_factor ** (n - 1))
        wait = max(0.0, st.last_finished + backoff - self.k.now())
        resources = [{"group": m["apiVersion"].split("/")[0] if "/" in m["apiVersion"] else "", "kind": m["kind"],
                      "name": m["metadata"]["name"], "namespace": m["metadata"]["namespace"]} for m in out_of_sync]

        def heal() -> None:
            cur = self.k.peek("Application", self.ns, name)
            if cur is None or st.operation_running or cur.get("operation"):
                return
            if (cur.get("status") or {}).get("sync", {}).get("status") != "OutOfSync":
                return
            self.start(name, revision, None, resources, automated=True, self_heal=True)
        self.k.schedule(wait, heal, once=f"argo-heal/{name}")

    def start(self, name: str, revision: str, source: dict[str, Any] | None, resources: list[dict[str, Any]] | None,
              *, automated: bool, self_heal: bool) -> None:
        """Write an operation the way the controller does for auto-sync, then run it."""
        app = self.k.get("Application", self.ns, name)
        if app is None:
            return
        op: dict[str, Any] = {"initiatedBy": {"automated": True} if automated else {"username": "admin"},
                              "sync": {"revision": revision, "prune": True, **({"resources": resources} if resources else {})},
                              "retry": {"limit": 5}}
        if source is not None:
            op["sync"]["source"] = source
        app["operation"] = op
        if self_heal:
            self.state[name].self_heal_attempts += 1
        self.state[name].operation_running = True
        self.k.update(app)
        self.k.schedule(0.0, lambda: self.run_operation(name, started=True), once=f"argo-op/{name}")

    def run_operation(self, name: str, started: bool = False) -> None:
        k = self.k
        app = k.get("Application", self.ns, name)
        if app is None or not app.get("operation"):
            return
        st = self.state[name]
        op = app["operation"]
        if not started:
            st.operation_running = True
        sync = op.get("sync") or {}
        revision = sync.get("revision") or self.git.head()
        source = sync.get("source") or app["spec"]["source"]
        started_at = k.api_time()
        app.setdefault("status", {})["operationState"] = {"operation": copy.deepcopy(op), "phase": "Running",
                                                           "message": "one or more tasks are running", "startedAt": started_at}
        k.update(app)

        def finish() -> None:
            cur = k.get("Application", self.ns, name)
            if cur is None:
                st.operation_running = False
                return
            desired = self.desired(cur, revision, source)
            subset = sync.get("resources")
            if subset:
                keys = {(r["kind"], r["name"]) for r in subset}
                desired_apply = [m for m in desired if (m["kind"], m["metadata"]["name"]) in keys]
            else:
                desired_apply = desired
            results = [self.apply(m) for m in desired_apply]
            if sync.get("prune") and not subset:
                results += self.prune(name, desired)
            finished = k.api_time()
            cur = k.get("Application", self.ns, name) or cur
            cur.pop("operation", None)
            cur["status"]["operationState"] = {
                "operation": copy.deepcopy(op), "phase": "Succeeded", "message": "successfully synced (all tasks run)",
                "startedAt": started_at, "finishedAt": finished,
                "syncResult": {"revision": revision, "source": copy.deepcopy(source), "resources": results}}
            if not subset:
                hist = cur["status"].setdefault("history", [])
                next_id = (hist[-1]["id"] + 1) if hist else 0
                hist.append({"id": next_id, "revision": revision, "deployedAt": finished, "deployStartedAt": started_at,
                             "source": copy.deepcopy(source), "initiatedBy": copy.deepcopy(op.get("initiatedBy") or {})})
                limit = cur["spec"].get("revisionHistoryLimit", 10)
                del hist[: max(0, len(hist) - limit)]
                st.synced_revision = revision
                st.synced_source = repr(sorted(source.items(), key=str))
                if not op.get("initiatedBy", {}).get("automated") or not subset:
                    st.self_heal_attempts = 0
            k.truth("sync-finished", f"application/{name}", f"{'partial' if subset else 'full'} {revision[:12]}")
            st.operation_running = False
            st.last_finished = k.now()
            k.update(cur)
            self.compare(name)
        k.schedule(self.cfg.sync_seconds, finish)

    def apply(self, m: Obj) -> dict[str, Any]:
        k = self.k
        ns, kind, name = m["metadata"]["namespace"], m["kind"], m["metadata"]["name"]
        live = k.get(kind, ns, name)
        result = {"group": m["apiVersion"].split("/")[0] if "/" in m["apiVersion"] else "", "version": m["apiVersion"].split("/")[-1],
                  "kind": kind, "namespace": ns, "name": name, "status": "Synced", "syncPhase": "Sync"}
        if live is None:
            k.create(m)
            k.truth("resource-created", f"{kind.lower()}/{name}")
            result["message"] = f"{kind.lower()}/{name} created"
            return result
        merged = copy.deepcopy(live)
        _merge_into(merged, m)
        k.update(merged)
        result["message"] = f"{kind.lower()}/{name} serverside-applied"
        return result

    def prune(self, app: str, desired: list[Obj]) -> list[dict[str, Any]]:
        keep = {(m["kind"], m["metadata"]["namespace"], m["metadata"]["name"]) for m in desired}
        out = []
        for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap"):
            for obj in list(self.k.list(kind)):
                tracking = (obj["metadata"].get("annotations") or {}).get(TRACKING, "")
                key = (kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
                if tracking.startswith(app + ":") and key not in keep:
                    self.k.delete(*key)
                    out.append({"kind": kind, "namespace": key[1], "name": key[2], "status": "Pruned"})
        return out


def _merge_into(live: Obj, desired: Obj) -> None:
    """Server-side apply, simplified: fields the manifest sets are set; lists replaced whole."""
    for key, value in desired.items():
        if key == "status":
            continue
        if isinstance(value, dict) and isinstance(live.get(key), dict):
            _merge_into(live[key], value)
        else:
            live[key] = copy.deepcopy(value)
