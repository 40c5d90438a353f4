"""The simulated kubelet: image pulls against the simulated registry, container start, readiness
and liveness probes, pod status and the Events a kubelet emits.

Modelled on the real one: a tag missing from the registry gives ErrImagePull, then
ImagePullBackOff, retried with back-off doubling from 10 s to 300 s; a container starts not
ready and turns ready after ``successThreshold`` probe successes; a ready container turns
unready after ``failureThreshold`` failures; each failed probe emits a Warning ``Unhealthy``
event ("Readiness probe failed: HTTP probe failed with statuscode: 404"), aggregated on one
Event object. Simplified: probes are judged against the paths the image serves (no HTTP), no
CrashLoopBackOff back-off for liveness restarts, no resource accounting.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from runner.targets.sim import events
from runner.targets.sim.config import SimConfig
from runner.targets.sim.kernel import Kernel
from runner.targets.sim.workloads import NODE
from runner.view import Obj


def split_image(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


@dataclass
class Container:
    name: str
    image: str
    readiness: dict[str, object] | None
    liveness: dict[str, object] | None
    state: str = "waiting"  # waiting | running
    reason: str = "ContainerCreating"
    message: str = ""
    ready: bool = False
    started: bool = False
    started_at: str | None = None
    restarts: int = 0
    backoff: float = 0.0
    ok_streak: int = 0
    fail_streak: int = 0
    live_fails: int = 0
    generation: int = 0  # bumped on restart so stale probe timers stop


@dataclass
class PodRuntime:
    ns: str
    name: str
    uid: str
    ip: str
    start_time: str
    containers: dict[str, Container] = field(default_factory=dict)
    terminating: bool = False


class Kubelet:
    def __init__(self, k: Kernel, cfg: SimConfig) -> None:
        self.k = k
        self.cfg = cfg.kubelet
        self.registry = cfg.registry
        self.pods: dict[str, PodRuntime] = {}
        self.images_on_node: set[str] = set()
        self._ip = 10
        k.listeners.append(self.on_change)

    # --- registry -----------------------------------------------------------------------

    def image_exists(self, image: str) -> bool:
        repo, tag = split_image(image)
        entry = self.registry.get(repo)
        return entry is not None and tag in entry.tags

    def serves(self, image: str, path: object) -> bool:
        repo, _ = split_image(image)
        entry = self.registry.get(repo)
        return entry is not None and isinstance(path, str) and path in entry.paths

    # --- lifecycle ----------------------------------------------------------------------

    def on_change(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        obj = after or before
        assert obj is not None
        if obj["kind"] != "Pod":
            return
        uid = obj["metadata"]["uid"]
        if etype == "DELETED":
            self.pods.pop(uid, None)
            return
        if obj["spec"].get("nodeName") != NODE:
            return
        if uid not in self.pods and not obj["metadata"].get("deletionTimestamp"):
            self.admit(obj)
        elif uid in self.pods and obj["metadata"].get("deletionTimestamp") and not self.pods[uid].terminating:
            self.terminate(uid)

    def admit(self, pod: Obj) -> None:
        self._ip += 1
        rt = PodRuntime(pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"],
                        f"10.244.0.{self._ip % 250 + 2}", self.k.api_time())
        for c in pod["spec"]["containers"]:
            rt.containers[c["name"]] = Container(c["name"], c["image"], c.get("readinessProbe"), c.get("livenessProbe"))
        self.pods[rt.uid] = rt
        self.push_status(rt)
        for c in rt.containers.values():
            self.k.schedule(self.cfg.status_latency, self._pull(rt, c))

    def _alive(self, rt: PodRuntime) -> bool:
        return not rt.terminating and self.pods.get(rt.uid) is rt

    def _pod(self, rt: PodRuntime) -> Obj | None:
        return self.k.peek("Pod", rt.ns, rt.name)

    def _event(self, rt: PodRuntime, etype: str, reason: str, message: str) -> None:
        pod = self._pod(rt)
        if pod is not None:
            events.record(self.k, pod, etype, reason, message, "kubelet", host=NODE)

    def _pull(self, rt: PodRuntime, c: Container):  # type: ignore[no-untyped-def]
        def run() -> None:
            if not self._alive(rt):
                return
            if c.image in self.images_on_node:
                self._event(rt, "Normal", "Pulled", f'Container image "{c.image}" already present on machine')
                self.k.schedule(self.cfg.container_start_seconds, self._start(rt, c))
                return
            self._event(rt, "Normal", "Pulling", f'Pulling image "{c.image}"')
            if self.image_exists(c.image):
                self.k.schedule(self.cfg.image_pull_seconds, self._pulled(rt, c))
            else:
                self.k.schedule(self.cfg.image_pull_fail_seconds, self._pull_failed(rt, c))
        return run

    def _pulled(self, rt: PodRuntime, c: Container):  # type: ignore[no-untyped-def]
        def run() -> None:
            if not self._alive(rt):
                return
            self.images_on_node.add(c.image)
            self._event(rt, "Normal", "Pulled", f'Successfully pulled image "{c.image}" in {self.cfg.image_pull_seconds:g}s')
            self.k.schedule(self.cfg.container_start_seconds, self._start(rt, c))
        return run

    def _pull_failed(self, rt: PodRuntime, c: Container):  # type: ignore[no-untyped-def]
        def run() -> None:
            if not self._alive(rt):
                return
            repo, tag = split_image(c.image)
            detail = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{c.image}": '
                      f'failed to resolve reference "{c.image}": {repo}:{tag}: not found')
            c.state, c.reason, c.message = "waiting", "ErrImagePull", detail
            self._event(rt, "Warning", "Failed", f'Failed to pull image "{c.image}": {detail}')
            self._event(rt, "Warning", "Failed", "Error: ErrImagePull")
            self.push_status(rt)
            c.backoff = self.cfg.backoff_initial if c.backoff == 0 else min(c.backoff * 2, self.cfg.backoff_max)
            self.k.schedule(self.cfg.err_to_backoff_seconds, self._backing_off(rt, c))
            self.k.schedule(c.backoff, self._pull(rt, c))
        return run

    def _backing_off(self, rt: PodRuntime, c: Container):  # type: ignore[no-untyped-def]
        def run() -> None:
            if not self._alive(rt) or c.reason != "ErrImagePull":
                return
            c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{c.image}"'
            self._event(rt, "Normal", "BackOff", f'Back-off pulling image "{c.image}"')
            self._event(rt, "Warning", "Failed", "Error: ImagePullBackOff")
            self.push_status(rt)
        return run

    def _start(self, rt: PodRuntime, c: Container):  # type: ignore[no-untyped-def]
        def run() -> None:
            if not self._alive(rt):
                return
            self._event(rt, "Normal", "Created", f"Created container {c.name}")
            self._event(rt, "Normal", "Started", f"Started container {c.name}")
            c.state, c.reason, c.message = "running", "", ""
            c.started, c.ready, c.started_at = True, False, self.k.api_time()
            c.ok_streak = c.fail_streak = c.live_fails = 0
            c.generation += 1
            self.push_status(rt)
            gen = c.generation
            if c.readiness:
                self.k.schedule(float(c.readiness.get("initialDelaySeconds") or 0), self._probe(rt, c, gen, "Readiness"))
            else:
                c.ready = True
                self.push_status(rt)
            if c.liveness:
                self.k.schedule(float(c.liveness.get("initialDelaySeconds") or 0), self._probe(rt, c, gen, "Liveness"))
        return run

    def _probe(self, rt: PodRuntime, c: Container, gen: int, kind: str):  # type: ignore[no-untyped-def]
        probe = c.readiness if kind == "Readiness" else c.liveness
        assert probe is not None
        period = float(probe.get("periodSeconds") or 10)
        success_threshold = int(probe.get("successThreshold") or 1)  # type: ignore[call-overload]
        failure_threshold = int(probe.get("failureThreshold") or 3)  # type: ignore[call-overload]
        path = (probe.get("httpGet") or {}).get("path")  # type: ignore[union-attr]

        def run() -> None:
            if not self._alive(rt) or c.generation != gen or c.state != "running":
                return
            ok = self.serves(c.image, path)
            if kind == "Readiness":
                if ok:
                    c.ok_streak, c.fail_streak = c.ok_streak + 1, 0
                    if not c.ready and c.ok_streak >= success_threshold:
                        c.ready = True
                        self.push_status(rt)
                else:
                    c.fail_streak, c.ok_streak = c.fail_streak + 1, 0
                    self._event(rt, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404")
                    if c.fail_streak == 1:
                        self.k.truth("probe-failed", f"pod/{rt.name}", "Readiness")
                    if c.ready and c.fail_streak >= failure_threshold:
                        c.ready = False
                        self.push_status(rt)
            else:
                if ok:
                    c.live_fails = 0
                else:
                    c.live_fails += 1
                    self._event(rt, "Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404")
                    if c.live_fails >= failure_threshold:
                        self._event(rt, "Normal", "Killing", f"Container {c.name} failed liveness probe, will be restarted")
                        c.restarts += 1
                        c.state, c.reason, c.ready, c.started = "waiting", "ContainerCreating", False, False
                        c.generation += 1
                        self.push_status(rt)
                        self.k.schedule(self.cfg.container_start_seconds, self._start(rt, c))
                        return
            self.k.schedule(period, run)
        return run

    def terminate(self, uid: str) -> None:
        rt = self.pods[uid]
        rt.terminating = True
        for c in rt.containers.values():
            if c.state == "running":
                self._event(rt, "Normal", "Killing", f"Stopping container {c.name}")

        def gone() -> None:
            self.k.delete("Pod", rt.ns, rt.name)
            self.pods.pop(uid, None)
        self.k.schedule(self.cfg.termination_seconds, gone)

    # --- status -------------------------------------------------------------------------

    def push_status(self, rt: PodRuntime) -> None:
        self.k.schedule(self.cfg.status_latency, lambda: self._write_status(rt), once=f"podstatus/{rt.uid}")

    def _write_status(self, rt: PodRuntime) -> None:
        pod = self.k.get("Pod", rt.ns, rt.name)
        if pod is None or self.pods.get(rt.uid) is not rt:
            return
        now = self.k.api_time()
        old = pod.get("status") or {}
        conds = {c["type"]: c for c in old.get("conditions") or []}
        all_running = all(c.state == "running" for c in rt.containers.values())
        all_ready = all(c.ready for c in rt.containers.values())

        def cond(ctype: str, ok: bool, reason: str = "") -> dict[str, object]:
            prev = conds.get(ctype)
            status = "True" if ok else "False"
            changed = prev is None or prev.get("status") != status
            c: dict[str, object] = {"type": ctype, "status": status,
                                    "lastTransitionTime": now if changed else prev.get("lastTransitionTime")}  # type: ignore[union-attr]
            if not ok and reason:
                c["reason"] = reason
                names = ", ".join(x.name for x in rt.containers.values() if not x.ready)
                c["message"] = f"containers with unready status: [{names}]"
            return c

        statuses = []
        for c in rt.containers.values():
            state: dict[str, object]
            if c.state == "running":
                state = {"running": {"startedAt": c.started_at}}
            else:
                state = {"waiting": {"reason": c.reason, **({"message": c.message} if c.message else {})}}
            statuses.append({"name": c.name, "image": c.image, "imageID": "", "ready": c.ready, "started": c.started,
                             "restartCount": c.restarts, "state": state})
        status = copy.deepcopy(old)
        status.update({
            "phase": "Running" if all_running else "Pending",
            "hostIP": "10.244.0.1",
            "startTime": rt.start_time,
            "qosClass": "Burstable",
            "conditions": [
                conds.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                cond("Initialized", True),
                cond("ContainersReady", all_ready, "ContainersNotReady"),
                cond("Ready", all_ready, "ContainersNotReady"),
            ],
            "containerStatuses": statuses,
        })
        if all_running:
            status["podIP"] = rt.ip
            status["podIPs"] = [{"ip": rt.ip}]
        if status != old:
            pod["status"] = status
            self.k.update(pod)
            # ground truth, at the moment the API shows it
            before = {c["name"]: (c.get("state") or {}).get("waiting", {}).get("reason") for c in old.get("containerStatuses") or []}
            for c in statuses:
                reason = (c["state"].get("waiting") or {}).get("reason")  # type: ignore[union-attr]
                if reason and reason != before.get(c["name"]) and reason != "ContainerCreating":
                    self.k.truth("pod-waiting", f"pod/{rt.name}", str(reason))
            if conds.get("Ready", {}).get("status") != ("True" if all_ready else "False"):
                self.k.truth("pod-ready" if all_ready else "pod-not-ready", f"pod/{rt.name}")
