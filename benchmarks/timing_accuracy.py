"""How accurate are the runner's TTD and TTR, against the control plane's own record, and what
would polling (every 1, 5, 10 s) or Chaos Toolkit's Kubernetes probes have measured instead?

On the real test control plane (tests/controlplane, started here in a temp state dir and stopped
at the end, also on errors), four drill kinds of the seed drills that need no Argo CD run
``--runs`` times each, on a Helm release of kind/platform-config/apps/week6-api in its own
namespace:

=====================  ===========================  =============  ================================
kind                   detect                       rollback       recover
=====================  ===========================  =============  ================================
readiness-path / helm  event Unhealthy (Readiness)  helm-rollback  deployment-available
image-tag / api        pod-waiting ErrImagePull...  rollout-undo   deployment-available
replica-drift / api    replicas-drift               none (*)       replicas-equal (the baseline)
delete-resource / api  resource-missing Service     none (*)       resource-present Service
=====================  ===========================  =============  ================================

(*) With rollback ``none`` nothing would ever recover here (there is no Argo CD on the plane),
so a stand-in for Argo CD self-heal (the "healer", its own client and User-Agent) scales the
Deployment back / recreates the Service, as the seed drills ``replica-drift`` and
``deleted-service`` expect self-heal to. Every fault is held ``--hold`` seconds (default 10.5,
longer than the slowest poller's interval): ``rollback.delay`` for the two rollback kinds, the
healer acting after hold + 0-1 s; a shorter-lived fault would simply be missed by the pollers.

Ground truth is the apiserver's audit log (microsecond ``stageTimestamp``): injection = the
audited write of the fault; detection = the audited write that made the detection signal true
(the kubelet's pod status patch with ErrImagePull, the kubelet's Event create with reason
Unhealthy, the scale or delete itself); recovery = the audited write that made the recovery
condition true (the deployments/status update where the rollout became complete, the healer's
Service create). Truth TTD = detection - injection, truth TTR = recovery - injection.

Measured side by side in the same runs:

* runner: ``Engine(KubeTarget)`` as ``drills run`` does (watch-based; TTD/TTR from its verdict);
* poll-1s / poll-5s / poll-10s: a thread per interval that GETs the objects every interval (random
  phase) and evaluates the same predicates; TTD/TTR = poll that first saw it true - end of the
  injection call (what a polling tool knows);
* ctk-1s: Chaos Toolkit's continuous steady-state hypothesis (chaoslib's own loop, default
  ``--hypothesis-frequency 1.0``) with chaosk8s probes, in a separate virtualenv
  (``--ctk-python``, default /tmp/ctk/bin/python); times are Chaos Toolkit's journal times.

usage: python benchmarks/timing_accuracy.py [--runs N] [--out benchmarks/results] [--kinds ...]
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from kubernetes import client as k8s  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402

log = logging.getLogger("timing_accuracy")
POLL_INTERVALS = (1.0, 5.0, 10.0)
CTK_FREQUENCY = 1.0  # chaos run --hypothesis-frequency default (chaostoolkit 1.19 commands/run.py)
BAD_TAG = "does-not-exist-0000"
WRONG_PATH = "/healthz-wrong"
DRIFT_REPLICAS = 3


@dataclass(frozen=True)
class Kind:
    key: str
    fault: dict[str, Any]
    detect: list[dict[str, Any]]
    rollback: str
    recover: list[dict[str, Any]]
    healer: str | None = None  # "scale" | "recreate"


KINDS = {k.key: k for k in (
    Kind("readiness-path/helm", {"type": "readiness-path", "via": "helm", "params": {"path": WRONG_PATH}},
         [{"event": {"reason": "Unhealthy", "message": "Readiness probe failed"}}], "helm-rollback",
         [{"deployment-available": {}}]),
    Kind("image-tag/api", {"type": "image-tag", "via": "api", "params": {"tag": BAD_TAG}},
         [{"pod-waiting": {"reasons": ["ErrImagePull", "ImagePullBackOff"]}}], "rollout-undo",
         [{"deployment-available": {}}]),
    Kind("replica-drift/api", {"type": "replica-drift", "via": "api", "params": {"replicas": DRIFT_REPLICAS}},
         [{"replicas-drift": {}}], "none", [{"replicas-equal": {}}], healer="scale"),
    Kind("delete-resource/api", {"type": "delete-resource", "via": "api", "params": {"kind": "Service", "name": "week6-api"}},
         [{"resource-missing": {"kind": "Service", "name": "week6-api"}}], "none",
         [{"resource-present": {"kind": "Service", "name": "week6-api"}}], healer="recreate"),
)}


# --- shared state of one run ------------------------------------------------------------------


@dataclass
class Marks:
    """Runner-clock (time.monotonic) instants the observers and pollers share."""

    inject_started: float | None = None
    inject_done: float | None = None
    rollback_started: float | None = None
    ready: threading.Event = field(default_factory=threading.Event)


# --- pollers ----------------------------------------------------------------------------------


def _raw(resp: Any) -> dict[str, Any]:
    return json.loads(resp.data)


class Probe:
    """GETs the objects of one drill kind and evaluates its detection and recovery predicates."""

    def __init__(self, kind: Kind, ns: str, baseline_replicas: int) -> None:
        self.kind, self.ns, self.baseline = kind, ns, baseline_replicas
        self.known_events: dict[str, str] | None = None  # Unhealthy events before the drill: name -> resourceVersion

    def prime(self, api: Any) -> None:
        """Before the drill: remember the Unhealthy events already there (a real poller starts early too)."""
        if self.kind.key.startswith("readiness-path"):
            self.known_events = None
            self(api)

    def __call__(self, api: Any) -> tuple[bool, bool]:
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        key, ns, to = self.kind.key, self.ns, (5, 10)
        if key.startswith("delete-resource"):
            try:
                svc = _raw(core.read_namespaced_service("week6-api", ns, _preload_content=False, _request_timeout=to))
                present = not svc["metadata"].get("deletionTimestamp")
            except ApiException as exc:
                if exc.status != 404:
                    raise
                present = False
            return (not present), present
        dep = _raw(apps.read_namespaced_deployment("week6-api", ns, _preload_content=False, _request_timeout=to))
        if key.startswith("replica-drift"):
            return dep["spec"].get("replicas", 1) != self.baseline, C.replicas_equal(dep, self.baseline)
        if key.startswith("image-tag"):
            pods = _raw(core.list_namespaced_pod(ns, label_selector=C.APP_SELECTOR, _preload_content=False,
                                                 _request_timeout=to))["items"]
            det = any(C.pod_waiting(p, ("ErrImagePull", "ImagePullBackOff")) for p in pods)
            return det, C.deployment_complete(dep)
        # readiness-path: a new (or changed) Unhealthy readiness event since the poller started
        evs = _raw(core.list_namespaced_event(ns, field_selector="reason=Unhealthy", _preload_content=False,
                                              _request_timeout=to))["items"]
        seen = {e["metadata"]["name"]: e["metadata"]["resourceVersion"] for e in evs
                if "Readiness probe failed" in (e.get("message") or "")}
        if self.known_events is None:
            self.known_events = seen
            return False, C.deployment_complete(dep)
        det = any(self.known_events.get(n) != rv for n, rv in seen.items())
        return det, C.deployment_complete(dep)


class Poller(threading.Thread):
    """GET every ``interval`` seconds (fixed rate, random phase) and note when conditions first hold."""

    def __init__(self, name: str, interval: float, probe: Probe, api: Any, marks: Marks) -> None:
        super().__init__(name=name, daemon=True)
        self.interval, self.probe, self.api, self.marks = interval, probe, api, marks
        self.stop_ev = threading.Event()
        self.samples: list[tuple[float, float, bool, bool]] = []  # (start, end, detect, recover)
        self.detected: float | None = None
        self.recovered: float | None = None
        self.errors: list[str] = []

    def run(self) -> None:
        t0 = time.monotonic() + random.uniform(0.0, self.interval)
        k = 0
        while not self.stop_ev.is_set():
            due = t0 + k * self.interval
            k += 1
            if self.stop_ev.wait(max(0.0, due - time.monotonic())):
                return
            start = time.monotonic()
            try:
                det, rec = self.probe(self.api)
            except Exception as exc:  # noqa: BLE001 - a failed poll is a missed sample, as for any poller
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            end = time.monotonic()
            self.samples.append((start, end, det, rec))
            m = self.marks
            if det and self.detected is None and m.inject_started is not None and start >= m.inject_started:
                self.detected = end
            if rec and self.recovered is None and m.rollback_started is not None and start >= m.rollback_started:
                self.recovered = end

    def done(self) -> bool:
        return self.recovered is not None


# --- Chaos Toolkit ------------------------------------------------------------------------------


def ctk_experiment(kind: Kind, ns: str) -> dict[str, Any]:
    def probe(title: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
        return {"type": "probe", "name": title, "tolerance": True,
                "provider": {"type": "python", "module": module, "func": func, "arguments": arguments}}
    healthy_dep = probe("deployment-available-and-healthy", "chaosk8s.deployment.probes", "deployment_available_and_healthy",
                        name="week6-api", ns=ns, raise_on_unavailable=False)
    if kind.key.startswith("image-tag"):
        probes = [probe("pods-in-phase-running", "chaosk8s.pod.probes", "pods_in_phase", label_selector=C.APP_SELECTOR,
                        phase="Running", ns=ns, raise_on_invalid_phase=False), healthy_dep]
    elif kind.key.startswith("readiness-path"):
        probes = [probe("pods-ready", "chaosk8s.pod.probes", "pods_in_conditions", label_selector=C.APP_SELECTOR,
                        conditions=[{"type": "Ready", "status": "True"}], ns=ns, raise_on_invalid_conditions=False),
                  healthy_dep]
    elif kind.key.startswith("replica-drift"):
        probes = [healthy_dep]
    else:
        probes = [probe("service-is-initialized", "chaosk8s.service.probes", "service_is_initialized", name="week6-api",
                        ns=ns, raise_if_service_not_initialized=False)]
    return {"title": f"week6-api steady ({kind.key})", "description": "benchmark", "method": [],
            "steady-state-hypothesis": {"title": "week6-api is healthy", "probes": probes}}


class Ctk:
    """One chaoslib continuous-hypothesis process for one drill run."""

    def __init__(self, python: str, cp: Any, kind: Kind, ns: str, marks: Marks) -> None:
        env = cp.env({"KUBERNETES_CONTEXT": cp.context})
        self.marks = marks
        self.lines: list[dict[str, Any]] = []
        self.detected: datetime | None = None
        self.recovered: datetime | None = None
        self.first = threading.Event()
        self.proc = subprocess.Popen([python, str(Path(__file__).resolve().parent / "_ctk_hypothesis.py"),
                                      json.dumps(ctk_experiment(kind, ns)), str(CTK_FREQUENCY)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wall: Callable[[float], datetime] | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                it = json.loads(line)
            except ValueError:
                continue
            self.lines.append(it)
            self.first.set()
            m = self.marks
            if not it.get("start") or self.wall is None:
                continue
            start, end = C.ts(it["start"]), C.ts(it["end"])
            if not it["met"] and self.detected is None and m.inject_started is not None \
                    and start >= self.wall(m.inject_started):
                self.detected = end
            if it["met"] and self.recovered is None and m.rollback_started is not None \
                    and start >= self.wall(m.rollback_started):
                self.recovered = end

    def done(self) -> bool:
        return self.recovered is not None or self.proc.poll() is not None

    def stop(self) -> str:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its Popen handle
            self.proc.wait(timeout=5)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return err[-2000:]


# --- the runner side ----------------------------------------------------------------------------


def make_observer(marks: Marks, waiters: list[Any], healer: Callable[[], None] | None, healer_delay: float,
                  max_wait: float) -> Any:
    from runner.kinds import Phase
    from runner.observers import DrillObserver
    from runner.timeline import EventKind

    class Bench(DrillObserver):
        def phase_started(self, run: Any, phase: Any) -> None:
            if phase is Phase.INJECT:
                marks.inject_started = time.monotonic()
            if phase is Phase.RESTORE:
                # hold restore back until every poller has seen recovery (or given up), so that
                # restore's own writes cannot change what they see
                deadline = time.monotonic() + max_wait
                while time.monotonic() < deadline and not all(w.done() for w in waiters):
                    time.sleep(0.05)

        def event_recorded(self, run: Any, event: Any) -> None:
            if event.kind is EventKind.FAULT_INJECTED:
                marks.inject_done = event.at
                if healer is not None:
                    threading.Timer(healer_delay + random.uniform(0.0, 1.0), healer).start()
            elif event.kind is EventKind.ROLLBACK_STARTED:
                marks.rollback_started = event.at
    return Bench()


def make_healer(cp: Any, kind: Kind, ns: str, baseline: int, service: dict[str, Any] | None,
                errors: list[str]) -> Callable[[], None] | None:
    if kind.healer is None:
        return None
    api = C.api_client(cp, "bench-healer/1")

    def heal() -> None:
        try:
            if kind.healer == "scale":
                k8s.AppsV1Api(api).patch_namespaced_deployment_scale("week6-api", ns, {"spec": {"replicas": baseline}},
                                                                     _preload_content=False)
            else:
                k8s.CoreV1Api(api).create_namespaced_service(ns, service, _preload_content=False)
        except Exception as exc:  # noqa: BLE001 - reported with the run
            errors.append(f"healer: {type(exc).__name__}: {exc}"[:300])
    return heal


def clean_service(svc: dict[str, Any]) -> dict[str, Any]:
    md = svc["metadata"]
    spec = dict(svc["spec"])
    for k in ("clusterIP", "clusterIPs"):
        spec.pop(k, None)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {k: md[k] for k in ("name", "namespace", "labels", "annotations") if k in md}, "spec": spec}


def wait_steady(cp: Any, ns: str, replicas: int, timeout: float = 180.0) -> None:
    api = C.api_client(cp, "bench-setup/1")
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            dep = _raw(apps.read_namespaced_deployment("week6-api", ns, _preload_content=False))
            pods = _raw(core.list_namespaced_pod(ns, label_selector=C.APP_SELECTOR, _preload_content=False))["items"]
            try:
                core.read_namespaced_service("week6-api", ns, _preload_content=False)
                svc = True
            except ApiException:
                svc = False
            if svc and C.deployment_complete(dep) and dep["spec"]["replicas"] == replicas and len(pods) == replicas \
                    and not any(p["metadata"].get("deletionTimestamp") for p in pods):
                time.sleep(1.0)  # let the last status writes and events land before the next drill
                return
            time.sleep(0.5)
    finally:
        api.close()
    raise RuntimeError(f"namespace {ns} did not settle within {timeout:.0f} s")


# --- ground truth -------------------------------------------------------------------------------


def truth(audit: C.Audit, kind: Kind, ns: str, since: datetime, baseline: int) -> tuple[dict[str, datetime | None],
                                                                                         dict[str, float]]:
    """The audited writes that made the transitions, and how long each of those requests took
    (requestReceived -> ResponseComplete: the commit happened somewhere inside)."""
    took: dict[str, float] = {}

    def first(after: datetime | None, match: Callable[[dict[str, Any]], bool]) -> datetime | None:
        if after is None:
            return None
        evs = audit.writes(namespace=ns, since=after, match=lambda e: C.ok(e) and match(e))
        if not evs:
            return None
        took[str(len(took))] = (evs[0]["_at"] - C.ts(evs[0]["requestReceivedTimestamp"])).total_seconds()
        return evs[0]["_at"]  # type: ignore[no-any-return]

    key = kind.key
    complete = (lambda e: C.ref_is(e, "deployments", "status") and e["verb"] == "update"
                and C.deployment_complete(e.get("requestObject") or {}))
    if key.startswith("readiness-path"):
        inj = first(since, lambda e: C.ref_is(e, "deployments") and e["verb"] in ("patch", "update", "apply")
                    and WRONG_PATH in C.body(e))
        det = first(inj, lambda e: C.ref_is(e, "events") and e["verb"] == "create" and '"Unhealthy"' in C.body(e)
                    and "Readiness probe failed" in C.body(e))
        rec = first(det, complete)
    elif key.startswith("image-tag"):
        inj = first(since, lambda e: C.ref_is(e, "deployments") and e["verb"] in ("patch", "update") and BAD_TAG in C.body(e))
        det = first(inj, lambda e: C.ref_is(e, "pods", "status") and ("ErrImagePull" in C.body(e)
                                                                    or "ImagePullBackOff" in C.body(e)))
        rec = first(det, complete)
    elif key.startswith("replica-drift"):
        inj = first(since, lambda e: C.ref_is(e, "deployments", "scale") and e["verb"] in ("patch", "update")
                    and (e.get("userAgent") or "").startswith(C.RUNNER_UA_PREFIX))
        det = inj
        rec = first(det, lambda e: C.ref_is(e, "deployments", "status") and e["verb"] == "update"
                    and C.replicas_equal(e.get("requestObject") or {}, baseline))
    else:
        inj = first(since, lambda e: C.ref_is(e, "services", None, "week6-api") and e["verb"] == "delete")
        det = inj
        rec = first(det, lambda e: C.ref_is(e, "services") and e["verb"] == "create"
                    and (e.get("requestObject") or {}).get("metadata", {}).get("name") == "week6-api")
    names = ["inject", "detect", "recover"] if det is not inj else ["inject", "recover"]
    return {"inject": inj, "detect": det, "recover": rec}, {n: took[k] for n, k in zip(names, sorted(took))}


# --- one run ------------------------------------------------------------------------------------


def run_one(cp: Any, audit: C.Audit, targets: Path, tmp: Path, kind: Kind, ns: str, i: int,
            ctk_python: str | None, hold: float) -> dict[str, Any]:
    from runner.engine import Engine

    baseline = 1
    wait_steady(cp, ns, baseline)
    setup = C.api_client(cp, "bench-setup/1")
    service = clean_service(_raw(k8s.CoreV1Api(setup).read_namespaced_service("week6-api", ns, _preload_content=False)))
    setup.close()
    marks = Marks()
    errors: list[str] = []
    pollers: list[Poller] = []
    ctk: Ctk | None = None
    ctk_err = ""
    target = None
    try:
        for iv in POLL_INTERVALS:
            api = C.api_client(cp, f"bench-poller/{iv:g}s")
            pollers.append(Poller(f"poll-{iv:g}s", iv, Probe(kind, ns, baseline), api, marks))
        for p in pollers:
            p.probe.prime(p.api)
            p.start()
        waiters: list[Any] = list(pollers)
        if ctk_python:
            ctk = Ctk(ctk_python, cp, kind, ns, marks)
            if not ctk.first.wait(30):
                errors.append("ctk: no hypothesis iteration within 30 s: " + ctk.stop())
                ctk = None
            else:
                waiters.append(ctk)
                # a random phase between Chaos Toolkit's loop and the injection, as for the pollers
                time.sleep(random.uniform(0.0, CTK_FREQUENCY))
        time.sleep(0.5)
        target = C.kube_target(targets)
        if ctk is not None:
            ctk.wall = target.clock.wall
        rollback: dict[str, Any] = {"strategy": kind.rollback}
        if kind.healer is None and hold > 0:  # keep the fault in place long enough for every poller to see it
            rollback["delay"] = f"{hold * 1000:.0f}ms"
        text = C.drill_yaml(f"ta-{kind.key.split('/')[0]}-{i}", ns, kind.fault, kind.detect, rollback, kind.recover)
        drill = C.load_drill(text, tmp / f"{kind.key.replace('/', '-')}-{i}.yaml")
        healer = make_healer(cp, kind, ns, baseline, service, errors)
        observer = make_observer(marks, waiters, healer, max(hold, 1.0), max_wait=max(POLL_INTERVALS) + 5.0)
        since = datetime.now(timezone.utc) - timedelta(seconds=0.5)
        run = Engine(target, [observer, *target.drill_observers()]).run(drill)
    finally:
        if target is not None:
            target.close()
        for p in pollers:
            p.stop_ev.set()
        for p in pollers:
            p.join(timeout=15)
            p.api.close()
        if ctk is not None:
            ctk_err = ctk.stop()
    if ctk_err.strip() and (ctk is None or ctk.detected is None or ctk.recovered is None):
        errors.append("ctk stderr: " + ctk_err.strip()[-500:])
    time.sleep(0.5)  # the audit log is written in blocking mode; give the last lines a moment
    t, took = truth(audit, kind, ns, since, baseline)
    wall = target.clock.wall
    v = run.verdict
    out: dict[str, Any] = {
        "kind": kind.key, "run": i, "namespace": ns, "outcome": v.outcome.value if v else None,
        "restore": run.restore.status.value if run.restore else None, "errors": errors + [e for p in pollers for e in p.errors],
        "truth": {k: (x.isoformat() if x else None) for k, x in t.items()}, "truth_request_seconds": took,
        "hold": hold,
    }
    tinj, tdet, trec = t["inject"], t["detect"], t["recover"]
    truth_ttd = (tdet - tinj).total_seconds() if tinj and tdet else None
    truth_ttr = (trec - tinj).total_seconds() if tinj and trec else None
    out["truth_ttd"], out["truth_ttr"] = truth_ttd, truth_ttr
    methods: dict[str, dict[str, float | None]] = {}
    methods["runner"] = {"ttd": v.ttd_seconds if v else None, "ttr": v.ttr_seconds if v else None}
    if run.injected_at is not None and run.detected_at is not None:
        methods["runner"]["ttd"] = run.detected_at - run.injected_at
    if run.injected_at is not None and run.recovered_at is not None:
        methods["runner"]["ttr"] = run.recovered_at - run.injected_at
    # absolute instants (runner clock -> wall) against the audit: how late the watch delivers
    out["runner_abs"] = {
        "inject": (wall(run.injected_at) - tinj).total_seconds() if run.injected_at and tinj else None,
        "detect": (wall(run.detected_at) - tdet).total_seconds() if run.detected_at and tdet else None,
        "recover": (wall(run.recovered_at) - trec).total_seconds() if run.recovered_at and trec else None,
    }
    ref = marks.inject_done
    for p in pollers:
        methods[p.name] = {"ttd": (p.detected - ref) if p.detected and ref else None,
                           "ttr": (p.recovered - ref) if p.recovered and ref else None,
                           "samples": len(p.samples)}
    if ctk is not None and ref is not None:
        rw = wall(ref)
        methods[f"ctk-{CTK_FREQUENCY:g}s"] = {
            "ttd": (ctk.detected - rw).total_seconds() if ctk.detected else None,
            "ttr": (ctk.recovered - rw).total_seconds() if ctk.recovered else None,
            "samples": len(ctk.lines),
            "probe_seconds": C.percentile([(C.ts(x["end"]) - C.ts(x["start"])).total_seconds()
                                           for x in ctk.lines if x.get("start")], 50),
        }
    for m in methods.values():
        m["ttd_err"] = (m["ttd"] - truth_ttd) if m["ttd"] is not None and truth_ttd is not None else None
        m["ttr_err"] = (m["ttr"] - truth_ttr) if m["ttr"] is not None and truth_ttr is not None else None
    out["methods"] = methods
    out["injection_call_seconds"] = (marks.inject_done - marks.inject_started) if marks.inject_done and marks.inject_started else None
    return out


# --- report ---------------------------------------------------------------------------------------


def summarize(results: list[dict[str, Any]]) -> tuple[list[list[str]], dict[str, Any]]:
    methods: list[str] = []
    for r in results:
        for m in r["methods"]:
            if m not in methods:
                methods.append(m)
    kinds = list(dict.fromkeys(r["kind"] for r in results))
    rows, summary = [], {}
    for m in methods:
        for k in [*kinds, "all"]:
            rs = [r for r in results if (k == "all" or r["kind"] == k) and m in r["methods"]]
            if not rs:
                continue
            row = [m, k, str(len(rs))]
            for which in ("ttd", "ttr"):
                errs = [abs(r["methods"][m][f"{which}_err"]) for r in rs if r["methods"][m].get(f"{which}_err") is not None]
                missed = sum(1 for r in rs if r["methods"][m].get(which) is None)
                signed = [r["methods"][m][f"{which}_err"] for r in rs if r["methods"][m].get(f"{which}_err") is not None]
                p50, p95, mx = C.percentile(errs, 50), C.percentile(errs, 95), max(errs) if errs else float("nan")
                row += [C.fmt(p50), C.fmt(p95), C.fmt(mx), C.fmt(C.percentile(signed, 50)), str(missed)]
                summary.setdefault(m, {}).setdefault(k, {})[which] = {
                    "n": len(errs), "p50": p50, "p95": p95, "max": mx, "median_signed": C.percentile(signed, 50),
                    "missed": missed}
            rows.append(row)
    return rows, summary


HEADERS = ["method", "drill kind", "runs", "TTD p50", "TTD p95", "TTD max", "TTD bias", "TTD miss",
           "TTR p50", "TTR p95", "TTR max", "TTR bias", "TTR miss"]


def chart(results: list[dict[str, Any]], path: Path) -> str:
    plt = C.pyplot()
    if plt is None:
        return "matplotlib not installed: no chart"
    methods = list(dict.fromkeys(m for r in results for m in r["methods"]))
    kinds = list(dict.fromkeys(r["kind"] for r in results))
    markers = ["o", "s", "^", "D", "v"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for ax, which in zip(axes, ("ttd", "ttr")):
        for ki, k in enumerate(kinds):
            xs, ys = [], []
            for mi, m in enumerate(methods):
                for r in results:
                    e = r["methods"].get(m, {}).get(f"{which}_err") if r["kind"] == k else None
                    if e is not None:
                        xs.append(mi + (ki - (len(kinds) - 1) / 2) * 0.12 + random.uniform(-0.03, 0.03))
                        ys.append(max(abs(e) * 1000, 0.1))
            ax.scatter(xs, ys, marker=markers[ki % len(markers)], s=22, alpha=0.75, label=k)
        for mi, m in enumerate(methods):
            errs = [abs(r["methods"][m][f"{which}_err"]) * 1000 for r in results
                    if m in r["methods"] and r["methods"][m].get(f"{which}_err") is not None]
            if errs:
                p95 = C.percentile(errs, 95)
                ax.hlines(max(p95, 0.1), mi - 0.35, mi + 0.35, colors="black", linewidth=1.5)
        ax.axhline(100, color="red", linestyle="--", linewidth=1)
        ax.text(len(methods) - 0.5, 110, "target p95 < 100 ms (runner)", color="red", ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=15)
        ax.set_title(f"|{which.upper()} error| vs the audit log (black bar: p95)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("absolute error, ms (log scale; exactly 0 drawn at 0.1)")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="repetitions per drill kind (default 5)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--ctk-python", default="/tmp/ctk/bin/python",
                    help="python of a virtualenv with chaostoolkit + chaostoolkit-kubernetes ('' to skip)")
    ap.add_argument("--seed", type=int, default=None, help="seed for the pollers' phases and the healer's delay")
    ap.add_argument("--hold", type=float, default=10.5,
                    help="seconds the fault stays in place before the rollback (rollback.delay) or the healer acts "
                         "(+0-1 s): longer than the slowest poller's interval, so every method can see it (default 10.5)")
    ap.add_argument("--report-only", action="store_true", help="re-print the tables and redraw the chart from OUT's JSON")
    args = ap.parse_args(argv)
    if args.report_only:
        return report(json.loads((args.out / "timing_accuracy.json").read_text()), args.out)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.seed is not None:
        random.seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    ctk_python, ctk_note = None, ""
    if args.ctk_python:
        p = subprocess.run([args.ctk_python, "-c", "import chaoslib, chaosk8s, chaostoolkit; "
                            "from importlib.metadata import version as v; "
                            "print(v('chaostoolkit'), v('chaostoolkit-lib'), v('chaostoolkit-kubernetes'))"],
                           capture_output=True, text=True) if Path(args.ctk_python).exists() else None
        if p is not None and p.returncode == 0:
            ctk_python = args.ctk_python
            ctk_note = "chaostoolkit {} / chaostoolkit-lib {} / chaostoolkit-kubernetes {}".format(*p.stdout.split())
        else:
            ctk_note = f"Chaos Toolkit not measured: {args.ctk_python}: " + (p.stderr.strip()[-300:] if p else "not found")
    print(ctk_note or "Chaos Toolkit skipped (--ctk-python '')", flush=True)
    state = Path(tempfile.mkdtemp(prefix="bench-timing-"))
    cp = None
    results: list[dict[str, Any]] = []
    t_start = time.monotonic()
    try:
        cp = C.start_plane(state)
        audit = C.Audit(cp)
        namespaces = {k: C.new_ns("ta-" + k.split("/")[0].split("-")[0]) for k in args.kinds}
        for ns in namespaces.values():
            C.install_release(cp, ns)
        targets = C.write_targets(state / "targets.yaml", cp, namespaces.values())
        for i in range(1, args.runs + 1):
            for k in args.kinds:
                t0 = time.monotonic()
                try:
                    r = run_one(cp, audit, targets, state, KINDS[k], namespaces[k], i, ctk_python, args.hold)
                except Exception as exc:  # noqa: BLE001 - one failed run must not lose the others
                    traceback.print_exc()
                    r = {"kind": k, "run": i, "failed": f"{type(exc).__name__}: {exc}", "methods": {}}
                r["wall_seconds"] = time.monotonic() - t0
                results.append(r)
                m = r.get("methods", {}).get("runner", {})
                print(f"[{i}/{args.runs}] {k:22s} outcome={r.get('outcome')} restore={r.get('restore')} "
                      f"truth TTD={C.fmt(r.get('truth_ttd'), 's', 3)} s TTR={C.fmt(r.get('truth_ttr'), 's', 3)} s | "
                      f"runner err TTD={C.fmt(m.get('ttd_err'), 'ms', 1)} ms TTR={C.fmt(m.get('ttr_err'), 'ms', 1)} ms "
                      f"({r['wall_seconds']:.0f} s){' ERR ' + '; '.join(r.get('errors') or []) if r.get('errors') else ''}",
                      flush=True)
    finally:
        if cp is not None:
            cp.stop()
        shutil.rmtree(state, ignore_errors=True)
    data = {"machine": C.machine(), "git": C.git_rev(), "runs": args.runs, "kinds": args.kinds, "ctk": ctk_note,
            "poll_intervals": POLL_INTERVALS, "ctk_frequency": CTK_FREQUENCY, "hold": args.hold,
            "seconds": time.monotonic() - t_start, "results": results}
    return report(data, args.out)


def report(data: dict[str, Any], out: Path) -> int:
    """Print the tables, write the chart, the markdown tables and the JSON (also with --report-only)."""
    results = data["results"]
    ok = [r for r in results if "failed" not in r]
    rows, summary = summarize(ok)
    data["summary"] = summary
    print()
    print("Absolute error of TTD/TTR vs the audit log, ms (bias = median signed error; miss = transition not seen)")
    print(C.table(HEADERS, rows))
    abs_rows = []
    for which in ("inject", "detect", "recover"):
        xs = [r["runner_abs"][which] for r in ok if r.get("runner_abs", {}).get(which) is not None]
        abs_rows.append([which, str(len(xs)), C.fmt(C.percentile(xs, 50), "ms", 1), C.fmt(C.percentile(xs, 95), "ms", 1),
                         C.fmt(max(xs) if xs else None, "ms", 1)])
    abs_headers = ["instant", "n", "p50", "p95", "max"]
    print()
    print("Runner: watch arrival - audited write (absolute instants, ms; negative = before the audit stamp)")
    print(C.table(abs_headers, abs_rows))
    ctx_rows = []
    for k in dict.fromkeys(r["kind"] for r in ok):
        rs = [r for r in ok if r["kind"] == k]
        ctk = [r["methods"].get(f"ctk-{CTK_FREQUENCY:g}s", {}).get("probe_seconds") for r in rs]
        ctx_rows.append([k, C.fmt(C.percentile([r["truth_ttd"] for r in rs if r.get("truth_ttd") is not None], 50), "s", 3),
                         C.fmt(C.percentile([r["truth_ttr"] for r in rs if r.get("truth_ttr") is not None], 50), "s", 3),
                         C.fmt(C.percentile([r["injection_call_seconds"] for r in rs if r.get("injection_call_seconds")], 50)),
                         C.fmt(C.percentile([x for x in ctk if x is not None], 50)),
                         C.fmt(C.percentile([v for r in rs for v in r.get("truth_request_seconds", {}).values()], 50), "ms", 1)])
    ctx_headers = ["drill kind", "truth TTD s (p50)", "truth TTR s (p50)", "injection call ms (p50)",
                   "ctk probe iteration ms (p50)", "audited request duration ms (p50)"]
    print()
    print("Context: the transitions measured, and what bounds the other methods")
    print(C.table(ctx_headers, ctx_rows))
    png = chart(ok, out / "timing_accuracy.png")
    C.write_json(out / "timing_accuracy.json", data)
    (out / "timing_accuracy.md").write_text("\n\n".join([C.table(HEADERS, rows), C.table(abs_headers, abs_rows),
                                                        C.table(ctx_headers, ctx_rows)]) + "\n")
    print(f"\nchart: {png}\nresults: {out / 'timing_accuracy.json'}  ({data['seconds']:.0f} s)")
    failed = [r for r in results if "failed" in r]
    runner_p95 = summary.get("runner", {}).get("all", {})
    verdict = all(runner_p95.get(w, {}).get("p95", 1e9) < 0.1 for w in ("ttd", "ttr"))
    print(f"runner p95 < 100 ms: {'yes' if verdict else 'NO'}" + (f"; {len(failed)} run(s) failed" if failed else ""))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
