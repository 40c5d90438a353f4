"""The triage snapshot taken at detection, in the order a responder checks (the seed lesson):
1. the Argo CD Application (conditions, sync, health, operation state),
2. render errors (a template or values mistake means nothing was created: rule it out first),
3. pod events and container states,
4. Service endpoints (is traffic still served?).
Pure: built from the runner's view.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.signals import event_time
from runner.view import ClusterView, condition


@dataclass
class Triage:
    application: dict[str, Any] | None = None
    render_errors: list[str] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    deployment: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"application": self.application, "render_errors": self.render_errors, "pods": self.pods,
                "events": self.events, "endpoints": self.endpoints, "deployment": self.deployment}


def snapshot(view: ClusterView, namespace: str, deployment: str, app: tuple[str, str] | None, since: float) -> Triage:
    t = Triage()
    if app is not None:
        obj = view.get("Application", app[0], app[1])
        if obj is not None:
            st = obj.get("status") or {}
            op = st.get("operationState") or {}
            t.application = {
                "name": app[1],
                "sync": (st.get("sync") or {}).get("status"),
                "revision": str((st.get("sync") or {}).get("revision", ""))[:12],
                "health": (st.get("health") or {}).get("status"),
                "health_message": (st.get("health") or {}).get("message"),
                "operation_phase": op.get("phase"),
                "operation_message": op.get("message"),
                "conditions": [f"{c.get('type')}: {c.get('message')}" for c in st.get("conditions") or []],
            }
            t.render_errors = [f"{c.get('type')}: {c.get('message')}" for c in st.get("conditions") or []
                               if c.get("type") in ("ComparisonError", "InvalidSpecError", "SyncError")]
    dep = view.get("Deployment", namespace, deployment)
    if dep is not None:
        st = dep.get("status") or {}
        prog = condition(dep, "Progressing") or {}
        t.deployment = {"replicas": dep["spec"].get("replicas"), "updated": st.get("updatedReplicas", 0),
                        "ready": st.get("readyReplicas", 0), "available": st.get("availableReplicas", 0),
                        "progressing": f"{prog.get('status')} {prog.get('reason')}" if prog else None}
        for pod in view.pods_of(dep):
            ps = pod.get("status") or {}
            states = []
            for cs in ps.get("containerStatuses") or []:
                state = cs.get("state") or {}
                w = state.get("waiting")
                states.append(f"{cs['name']}: " + (f"waiting {w.get('reason')}" if w else "running") +
                              f", ready={cs.get('ready')}, restarts={cs.get('restartCount', 0)}")
            t.pods.append({"name": pod["metadata"]["name"], "phase": ps.get("phase"),
                           "ready": (condition(pod, "Ready") or {}).get("status"), "containers": states})
    evs = []
    for ev in view.of_kind("Event", namespace):
        key = ("Event", namespace, ev["metadata"]["name"])
        if view.changed_at.get(key, 0.0) < since or ev.get("type") != "Warning" and ev.get("reason") != "BackOff":
            continue
        inv = ev.get("involvedObject") or ev.get("regarding") or {}
        when, precision = event_time(ev)
        evs.append({"reason": ev.get("reason"), "type": ev.get("type"), "object": f"{str(inv.get('kind', '')).lower()}/{inv.get('name')}",
                    "message": ev.get("message") or ev.get("note"), "count": ev.get("count") or 1,
                    "last_seen": when.isoformat() if when else None})
    t.events = sorted(evs, key=lambda e: (e["last_seen"] or "", e["reason"] or ""))[-20:]
    for sl in view.of_kind("EndpointSlice", namespace):
        eps = sl.get("endpoints") or []
        t.endpoints.append({"service": (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name"),
                            "ready": sum(1 for e in eps if (e.get("conditions") or {}).get("ready")),
                            "not_ready": sum(1 for e in eps if not (e.get("conditions") or {}).get("ready"))})
    for svc in view.of_kind("Service", namespace):
        if not any(e["service"] == svc["metadata"]["name"] for e in t.endpoints):
            t.endpoints.append({"service": svc["metadata"]["name"], "ready": 0, "not_ready": 0})
    return t
