"""Workload controllers of the simulated cluster: Deployment, ReplicaSet, scheduler, endpoints.

They follow the real controllers' algorithms closely enough for drills to time correctly:
rolling updates with maxSurge 25 % (rounded up) and maxUnavailable 25 % (rounded down, at least
one of them non-zero) as pkg/controller/deployment/rolling.go; revisions and rollbacks reusing
an old ReplicaSet; the Progressing/Available conditions and progressDeadlineSeconds; pods
ranked for deletion like the ReplicaSet controller (unready and newest first). Simplified:
no proportional scaling across several old ReplicaSets mid-rollout, no minReadySeconds, no
pod disruption, a single node.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any

from runner.targets.sim import events
from runner.targets.sim.config import SimConfig
from runner.targets.sim.kernel import Kernel
from runner.view import Obj, condition, rollout_complete

REVISION = "deployment.kubernetes.io/revision"
NODE = "sim-node-0"
# annotations the deployment controller does not copy to ReplicaSets (deployment_util.go annotationsToSkip)
SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
                    "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
                    "deprecated.deployment.rollback.to"}


def copied_annotations(d: Obj) -> dict[str, str]:
    """The Deployment's annotations a ReplicaSet carries (copyDeploymentAnnotationsToReplicaSet)."""
    return {k: v for k, v in (d["metadata"].get("annotations") or {}).items() if k not in SKIP_ANNOTATIONS}


def template_hash(template: Obj) -> str:
    return hashlib.sha1(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def owner(obj: Obj) -> dict[str, Any] | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return refs[0] if refs else None


def owned_by(objs: list[Obj], uid: str) -> list[Obj]:
    return [o for o in objs if (owner(o) or {}).get("uid") == uid]


def _rev(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))


def fenceposts(replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for the default 25 % / 25 % (deployment util ResolveFenceposts)."""
    surge = math.ceil(0.25 * replicas)
    unavailable = math.floor(0.25 * replicas)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def set_condition(obj: Obj, ctype: str, status: str, reason: str, message: str, now: str, *, bump_update: bool = True) -> None:
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    cur = next((c for c in conds if c["type"] == ctype), None)
    if cur is None:
        conds.append({"type": ctype, "status": status, "reason": reason, "message": message,
                      "lastTransitionTime": now, "lastUpdateTime": now})
        return
    if cur["status"] != status:
        cur["lastTransitionTime"] = now
    if cur["status"] != status or cur["reason"] != reason or bump_update:
        cur["lastUpdateTime"] = now
    cur.update(status=status, reason=reason, message=message)


class DeploymentController:
    def __init__(self, k: Kernel, cfg: SimConfig) -> None:
        self.k = k
        self.latency = cfg.controllers.deployment_latency
        self.progress_at: dict[tuple[str, str], float] = {}
        k.listeners.append(self.on_change)

    def on_change(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        obj = after or before
        assert obj is not None
        kind, ns = obj["kind"], obj["metadata"].get("namespace", "")
        if kind == "Deployment":
            self.enqueue(ns, obj["metadata"]["name"])
        elif kind == "ReplicaSet":
            o = owner(obj)
            if o and o.get("kind") == "Deployment":
                self.enqueue(ns, o["name"])

    def enqueue(self, ns: str, name: str, delay: float | None = None) -> None:
        self.k.schedule(self.latency if delay is None else delay, lambda: self.sync(ns, name), once=f"deploy/{ns}/{name}")

    def sync(self, ns: str, name: str) -> None:
        k = self.k
        d = k.get("Deployment", ns, name)
        all_rs = k.list("ReplicaSet", ns)
        if d is None:
            for rs in all_rs:
                o = owner(rs)
                if o and o.get("kind") == "Deployment" and o.get("name") == name:
                    k.delete("ReplicaSet", ns, rs["metadata"]["name"])
            return
        rss = [copy.deepcopy(r) for r in owned_by(all_rs, d["metadata"]["uid"])]
        spec = d["spec"]
        replicas = spec.get("replicas", 1)
        h = template_hash(spec["template"])
        max_rev = max((_rev(r) for r in rss), default=0)
        new = next((r for r in rss if r["metadata"]["labels"].get("pod-template-hash") == h), None)
        now = k.api_time()
        progress_reason: tuple[str, str] | None = None
        if new is None:
            labels = dict(spec["template"]["metadata"].get("labels") or {}, **{"pod-template-hash": h})
            template = copy.deepcopy(spec["template"])
            template["metadata"]["labels"] = labels
            new = k.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": labels,
                             "annotations": {**copied_annotations(d), REVISION: str(max_rev + 1),
                                             "deployment.kubernetes.io/desired-replicas": str(replicas),
                                             "deployment.kubernetes.io/max-replicas": str(replicas + fenceposts(replicas)[0])},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                                  "uid": d["metadata"]["uid"], "controller": True}]},
                "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template},
                "status": {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0},
            })
            rss.append(new)
            progress_reason = ("NewReplicaSetCreated", f'Created new replica set "{new["metadata"]["name"]}"')
        elif _rev(new) < max_rev:
            ann = new["metadata"].setdefault("annotations", {})
            ann.update(copied_annotations(d))
            history = [x for x in (ann.get("deployment.kubernetes.io/revision-history") or "").split(",") if x]
            ann["deployment.kubernetes.io/revision-history"] = ",".join(history + [ann[REVISION]])
            ann[REVISION] = str(max_rev + 1)
            new = k.update(new)
            rss = [new if r["metadata"]["name"] == new["metadata"]["name"] else r for r in rss]
            progress_reason = ("FoundNewReplicaSet", f'Found new replica set "{new["metadata"]["name"]}"')
        olds = sorted([r for r in rss if r["metadata"]["name"] != new["metadata"]["name"]], key=_rev)
        self._scale(d, new, olds, replicas)
        self._status(d, new, olds, replicas, now, progress_reason)

    def _set_replicas(self, d: Obj, rs: Obj, n: int) -> None:
        cur = rs["spec"]["replicas"]
        if cur == n:
            return
        rs["spec"]["replicas"] = n
        rs["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(d["spec"].get("replicas", 1))
        self.k.update(rs)
        verb = "up" if n > cur else "down"
        events.record(self.k, d, "Normal", "ScalingReplicaSet",
                      f"Scaled {verb} replica set {rs['metadata']['name']} from {cur} to {n}", "deployment-controller")

    def _scale(self, d: Obj, new: Obj, olds: list[Obj], replicas: int) -> None:
        surge, max_unavailable = fenceposts(replicas)
        if not any(o["spec"]["replicas"] for o in olds):
            self._set_replicas(d, new, replicas)
            return
        # reconcileNewReplicaSet
        if new["spec"]["replicas"] > replicas:
            self._set_replicas(d, new, replicas)
        elif new["spec"]["replicas"] < replicas:
            current = new["spec"]["replicas"] + sum(o["spec"]["replicas"] for o in olds)
            room = replicas + surge - current
            if room > 0:
                self._set_replicas(d, new, new["spec"]["replicas"] + min(room, replicas - new["spec"]["replicas"]))
        # reconcileOldReplicaSets
        all_pods = new["spec"]["replicas"] + sum(o["spec"]["replicas"] for o in olds)
        min_available = replicas - max_unavailable
        new_unavailable = new["spec"]["replicas"] - (new.get("status") or {}).get("availableReplicas", 0)
        max_cleanup = all_pods - min_available - new_unavailable
        if max_cleanup <= 0:
            return
        cleaned = 0
        for o in olds:  # cleanupUnhealthyReplicas, oldest first
            if cleaned >= max_cleanup or o["spec"]["replicas"] == 0:
                continue
            unhealthy = o["spec"]["replicas"] - (o.get("status") or {}).get("availableReplicas", 0)
            if unhealthy <= 0:
                continue
            n = min(max_cleanup - cleaned, unhealthy)
            self._set_replicas(d, o, o["spec"]["replicas"] - n)
            cleaned += n
        available = (new.get("status") or {}).get("availableReplicas", 0) + sum(
            min(o["spec"]["replicas"], (o.get("status") or {}).get("availableReplicas", 0)) for o in olds)
        if available <= min_available:
            return
        budget = available - min_available
        for o in olds:  # scaleDownOldReplicaSetsForRollingUpdate
            if budget <= 0:
                break
            if o["spec"]["replicas"] == 0:
                continue
            n = min(o["spec"]["replicas"], budget)
            self._set_replicas(d, o, o["spec"]["replicas"] - n)
            budget -= n

    def _status(self, d: Obj, new: Obj, olds: list[Obj], replicas: int, now: str,
                progress_reason: tuple[str, str] | None) -> None:
        k = self.k
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        allrs = [new] + olds
        fresh = [k.peek("ReplicaSet", key[0], r["metadata"]["name"]) or r for r in allrs]
        st_old = copy.deepcopy(d.get("status") or {})
        st = d.setdefault("status", {})
        st["observedGeneration"] = d["metadata"].get("generation", 1)
        st["replicas"] = sum((r.get("status") or {}).get("replicas", 0) for r in fresh)
        st["updatedReplicas"] = (fresh[0].get("status") or {}).get("replicas", 0)
        st["readyReplicas"] = sum((r.get("status") or {}).get("readyReplicas", 0) for r in fresh)
        st["availableReplicas"] = sum((r.get("status") or {}).get("availableReplicas", 0) for r in fresh)
        st["unavailableReplicas"] = max(0, sum(r["spec"]["replicas"] for r in fresh) - st["availableReplicas"])
        _, max_unavailable = fenceposts(replicas)
        if st["availableReplicas"] >= replicas - max_unavailable:
            set_condition(d, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now, bump_update=False)
        else:
            set_condition(d, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now, bump_update=False)
        d.setdefault("metadata", {}).setdefault("annotations", {})[REVISION] = (new["metadata"].get("annotations") or {}).get(REVISION, "1")
        rsname = new["metadata"]["name"]
        complete = (st["updatedReplicas"] == replicas and st["replicas"] == replicas and st["availableReplicas"] == replicas)
        prog = condition(d, "Progressing")
        progressed = any(st.get(f, 0) > st_old.get(f, 0) for f in ("updatedReplicas", "readyReplicas", "availableReplicas")) \
            or st["replicas"] < st_old.get("replicas", 0)
        pds = d["spec"].get("progressDeadlineSeconds", 600)
        if complete:
            if not prog or prog.get("reason") != "NewReplicaSetAvailable":
                set_condition(d, "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rsname}" has successfully progressed.', now)
            self.progress_at.pop(key, None)
        elif progress_reason is not None:
            set_condition(d, "Progressing", "True", progress_reason[0], progress_reason[1], now)
            self.progress_at[key] = k.now()
        elif progressed or prog is None:
            set_condition(d, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rsname}" is progressing.', now)
            self.progress_at[key] = k.now()
        elif prog.get("reason") != "ProgressDeadlineExceeded":
            since = self.progress_at.setdefault(key, k.now())
            if k.now() >= since + pds:
                set_condition(d, "Progressing", "False", "ProgressDeadlineExceeded", f'ReplicaSet "{rsname}" has timed out progressing.', now)
                k.truth("deployment-progress-deadline", f"deployment/{key[1]}")
        prog = condition(d, "Progressing")
        if not complete and prog is not None and prog.get("reason") != "ProgressDeadlineExceeded" and key in self.progress_at:
            self.enqueue(key[0], key[1], delay=self.progress_at[key] + pds - k.now() + 0.001)
        if st != st_old or d["metadata"]["annotations"] != (k.peek("Deployment", *key) or {}).get("metadata", {}).get("annotations"):
            was_done = rollout_complete(k.peek("Deployment", *key) or d)[0]
            k.update(d)
            if rollout_complete(d)[0] != was_done:
                k.truth("rollout-complete" if not was_done else "rollout-started", f"deployment/{key[1]}")


class ReplicaSetController:
    def __init__(self, k: Kernel, cfg: SimConfig) -> None:
        self.k = k
        self.latency = cfg.controllers.replicaset_latency
        k.listeners.append(self.on_change)

    def on_change(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        obj = after or before
        assert obj is not None
        ns = obj["metadata"].get("namespace", "")
        if obj["kind"] == "ReplicaSet":
            self.enqueue(ns, obj["metadata"]["name"])
        elif obj["kind"] == "Pod":
            o = owner(obj)
            if o and o.get("kind") == "ReplicaSet":
                self.enqueue(ns, o["name"])

    def enqueue(self, ns: str, name: str) -> None:
        self.k.schedule(self.latency, lambda: self.sync(ns, name), once=f"rs/{ns}/{name}")

    def sync(self, ns: str, name: str) -> None:
        k = self.k
        rs = k.get("ReplicaSet", ns, name)
        pods = [p for p in k.list("Pod", ns) if (owner(p) or {}).get("name") == name]
        if rs is None:
            for p in pods:
                terminate_pod(k, p)
            return
        active = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        want = rs["spec"]["replicas"]
        if len(active) < want:
            for _ in range(want - len(active)):
                suffix = "".join(k.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
                tmpl = copy.deepcopy(rs["spec"]["template"])
                k.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": f"{name}-{suffix}", "namespace": ns, "labels": tmpl["metadata"]["labels"],
                                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                                                            "uid": rs["metadata"]["uid"], "controller": True}]},
                          "spec": tmpl["spec"], "status": {"phase": "Pending"}})
        elif len(active) > want:
            def rank(p: Obj) -> tuple[int, int, int, str]:
                st = p.get("status") or {}
                ready = (condition(p, "Ready") or {}).get("status") == "True"
                return (0 if not p["spec"].get("nodeName") else 1, 0 if st.get("phase") == "Pending" else 1,
                        1 if ready else 0, p["metadata"]["creationTimestamp"])
            for p in sorted(active, key=rank, reverse=False)[: len(active) - want]:
                terminate_pod(k, p)
        fresh = [p for p in k.list("Pod", ns) if (owner(p) or {}).get("name") == name and not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in fresh if (condition(p, "Ready") or {}).get("status") == "True")
        status = {"replicas": len(fresh), "fullyLabeledReplicas": len(fresh), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        if rs.get("status") != status:
            rs["status"] = status
            k.update(rs)


def terminate_pod(k: Kernel, pod: Obj) -> None:
    """What the apiserver does on a graceful DELETE: set deletionTimestamp; the kubelet finishes."""
    if pod["metadata"].get("deletionTimestamp"):
        return
    pod = copy.deepcopy(pod)
    pod["metadata"]["deletionTimestamp"] = k.api_time()
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    if not pod["spec"].get("nodeName"):
        k.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        return
    k.update(pod)


class Scheduler:
    def __init__(self, k: Kernel, cfg: SimConfig) -> None:
        self.k = k
        self.latency = cfg.controllers.scheduler_latency
        k.listeners.append(self.on_change)

    def on_change(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        if etype == "ADDED" and after and after["kind"] == "Pod" and not after["spec"].get("nodeName"):
            ns, name = after["metadata"]["namespace"], after["metadata"]["name"]
            self.k.schedule(self.latency, lambda: self.bind(ns, name))

    def bind(self, ns: str, name: str) -> None:
        pod = self.k.get("Pod", ns, name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        pod["spec"]["nodeName"] = NODE
        pod.setdefault("status", {})["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": self.k.api_time()}]
        self.k.update(pod)
        events.record(self.k, pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {NODE}",
                      "default-scheduler", legacy=False)


class EndpointsController:
    """EndpointSlices for Services: every selected pod with an IP, ready or not."""

    def __init__(self, k: Kernel, cfg: SimConfig) -> None:
        self.k = k
        self.latency = cfg.controllers.endpoints_latency
        k.listeners.append(self.on_change)

    def on_change(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        obj = after or before
        assert obj is not None
        if obj["kind"] in ("Service", "Pod"):
            ns = obj["metadata"]["namespace"]
            self.k.schedule(self.latency, lambda: self.sync(ns), once=f"endpoints/{ns}")

    def sync(self, ns: str) -> None:
        k = self.k
        services = {s["metadata"]["name"]: s for s in k.list("Service", ns)}
        for sl in k.list("EndpointSlice", ns):
            if sl["metadata"]["labels"]["kubernetes.io/service-name"] not in services:
                k.delete("EndpointSlice", ns, sl["metadata"]["name"])
        for name, svc in services.items():
            sel = svc["spec"].get("selector") or {}
            eps = []
            for p in sorted(k.list("Pod", ns), key=lambda p: p["metadata"]["name"]):
                labels = p["metadata"].get("labels") or {}
                ip = (p.get("status") or {}).get("podIP")
                if not sel or not ip or any(labels.get(a) != b for a, b in sel.items()):
                    continue
                ready = (condition(p, "Ready") or {}).get("status") == "True"
                terminating = bool(p["metadata"].get("deletionTimestamp"))
                eps.append({"addresses": [ip], "conditions": {"ready": ready and not terminating, "serving": ready,
                                                              "terminating": terminating},
                            "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": ns}})
            body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": f"{name}-sim", "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
                    "addressType": "IPv4", "endpoints": eps,
                    "ports": [{"name": pt.get("name"), "port": pt.get("targetPort"), "protocol": "TCP"}
                              for pt in svc["spec"].get("ports") or []]}
            cur = k.get("EndpointSlice", ns, f"{name}-sim")
            if cur is None:
                k.create(body)
            elif cur.get("endpoints") != eps:
                cur["endpoints"] = eps
                k.update(cur)
