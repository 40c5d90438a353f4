"""A stand-in for the kubelet of ONE node, for the release-drills test control plane.

Run as its own process by plane.py (``python fake_kubelet.py --kubeconfig ... --context ...``).
It talks to a real kube-apiserver and does, for the pods bound to its node, the parts of the
kubelet's job that release drills observe:

* registers the Node (default ``drill-node-0``), keeps its Ready condition and its Lease in
  ``kube-node-lease`` fresh (lease renewed every 10 s, duration 40 s; node status re-posted
  every 5 min or on change, as the real kubelet does with leases on);
* list+watches the pods with ``spec.nodeName=<node>`` (410 Gone -> relist, dropped
  connection -> re-watch from the last resourceVersion, with back-off);
* "pulls" images against a fake registry file (``registry.yaml``): an unknown tag gives
  ``ErrImagePull`` and then ``ImagePullBackOff`` with the kubelet's image back-off (initial
  10 s, doubling, capped at 300 s; only the initial value is configurable, with
  ``--image-backoff`` / ``$DRILLS_KUBELET_IMAGE_BACKOFF``), pod phase Pending;
* for an image that exists, starts a REAL local process of the sample app
  (``kind/app/app.py``) per container, on its own free loopback port, and kills it when the
  container is killed or the pod deleted;
* runs the readiness / liveness / startup probes for real (HTTP GET against that process,
  honouring initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold,
  failureThreshold, with the kubelet's timing: a probe tick every period from the container
  start, ticks before initialDelaySeconds skipped); a liveness failure kills and restarts
  the container (restartCount++, CrashLoopBackOff back-off 10 s doubling to 300 s);
* writes pod status like the kubelet: phase, conditions (PodReadyToStartContainers,
  Initialized, Ready, ContainersReady; PodScheduled kept as the scheduler wrote it) with
  lastTransitionTime, hostIP(s), podIP(s), startTime, containerStatuses (state
  waiting/running/terminated, lastState, ready, started, restartCount, image, imageID,
  containerID); status is patched only when it changes;
* emits core/v1 Events the way the kubelet's legacy recorder does (source.component=kubelet,
  firstTimestamp/lastTimestamp/count, eventTime null; a repeat of the same
  object+type+reason+message bumps count and lastTimestamp): Pulling, Pulled, Failed,
  BackOff, Created, Started, Unhealthy, Killing, with the kubelet's own message texts
  (taken from pkg/kubelet of k8s.io/kubernetes v1.37.2);
* on a pod with deletionTimestamp: Killing event, SIGTERM, SIGKILL after the grace period,
  final status (terminated containers, terminal phase), then DELETE with grace 0 and a UID
  precondition, like the kubelet's status manager.

What the real kubelet does that this one does NOT: no container runtime, images, cgroups,
resource limits, OOM kills, volumes/mounts, secrets/configmaps/projected tokens in files,
init containers (Initialized is set True at once), sidecars, ephemeral containers, exec
probes and lifecycle hooks (exec probes count as success), gRPC probes (success), pod
networking (pod IPs are fake, from --pod-cidr; nothing listens there: the app really
listens on 127.0.0.1:<its own port>, see <state-dir>/pods/<ns>_<name>.json), the kubelet
API (no logs/exec/port-forward: the node's address is 127.0.0.1 and nothing serves its
port; app output is in <state-dir>/pods/*.log), static pods, eviction, node status images
list, in-place resize, the client-go event correlator's "combined from similar events"
aggregation (only the exact-repeat count bump is done), and the image pull is instant
(plus ~0.3 s) instead of a real download. Every image runs the same program (app.py) with
APP_VERSION set to the image tag and the container's literal env values.

Standard library + PyYAML only: it must not import the release-drills ``runner`` package.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import http.client
import json
import logging
import os
import queue
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode, urlparse

import yaml

log = logging.getLogger("fake-kubelet")

KUBELET_VERSION = "v1.37.2"
MAX_BACKOFF = 300.0  # pkg/kubelet/apis/config/v1beta1 MaxContainerBackOff
WORKER_BACKOFF = 10.0  # pkg/kubelet backOffPeriod: pod worker requeue after a sync error
PLEG_PERIOD = 1.0  # the kubelet's PLEG relists the runtime every second
LEASE_DURATION = 40
LEASE_RENEW = 10.0  # renewInterval = 0.25 * leaseDuration
NODE_STATUS_REPORT = 300.0  # nodeStatusReportFrequency (5 min) when nothing changed
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_APP = REPO_ROOT / "kind" / "app" / "app.py"
DEFAULT_REGISTRY = Path(__file__).resolve().parent / "registry.yaml"


# --------------------------------------------------------------------------------------------
# time formats
# --------------------------------------------------------------------------------------------

def now_time() -> str:
    """metav1.Time: RFC 3339, second precision."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_microtime() -> str:
    """metav1.MicroTime: exactly 6 fractional digits and a zone."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def jitter(d: float, factor: float = 0.5) -> float:
    """wait.Jitter: d + random [0, factor*d)."""
    return d + random.random() * factor * d


def go_duration(seconds: float) -> str:
    """time.Duration.String() for whole seconds / minutes (used in back-off messages)."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    return f"{m}m{s}s"


# --------------------------------------------------------------------------------------------
# a small API client (stdlib http.client; JSON dicts in and out)
# --------------------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, body: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.body = body
        msg = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: HTTP {status}: {msg}")


class Gone(Exception):
    """The watch's resourceVersion is too old (410): relist."""


class Api:
    """Token-authenticated JSON client for one API server, built from a kubeconfig context."""

    def __init__(self, kubeconfig: str, context: str | None = None) -> None:
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        ctx_name = context or cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        url = urlparse(cluster["server"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        if cluster.get("insecure-skip-tls-verify"):
            self.ssl = ssl._create_unverified_context()  # noqa: S323 (explicitly asked for)
        elif "certificate-authority-data" in cluster:
            self.ssl = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        else:
            self.ssl = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        token = user.get("token") or Path(user["tokenFile"]).read_text().strip()
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"kubelet/{KUBELET_VERSION} (linux/amd64) release-drills-fake-kubelet",
        }
        self._local = threading.local()

    def _conn(self, timeout: float) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)
            self._local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def request(self, method: str, path: str, body: Any = None, *, query: dict | None = None,
                content_type: str = "application/json", timeout: float = 30.0) -> Any:
        if query:
            path = f"{path}?{urlencode(query)}"
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):  # one retry on a stale keep-alive connection
            conn = self._conn(timeout)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self._drop()
                if attempt == 2:
                    raise
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = raw.decode(errors="replace")
        if resp.status >= 400:
            raise ApiError(resp.status, parsed, method, path)
        return parsed

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def merge_patch(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json", **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("DELETE", path, body, **kw)

    def watch(self, path: str, query: dict, stop: threading.Event, timeout: float) -> Iterator[dict]:
        """Yield watch events until the server ends the stream. ERROR 410 raises Gone."""
        q = dict(query, watch="1")
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)
        try:
            conn.request("GET", f"{path}?{urlencode(q)}", headers=self.headers)
            resp = conn.getresponse()
            if resp.status == 410:
                raise Gone()
            if resp.status >= 400:
                raise ApiError(resp.status, resp.read().decode(errors="replace"), "WATCH", path)
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    return  # the server closed the stream (timeoutSeconds reached)
                if not line.strip():
                    continue
                ev = json.loads(line)
                if ev.get("type") == "ERROR":
                    status = ev.get("object") or {}
                    if status.get("code") == 410:
                        raise Gone()
                    raise ApiError(status.get("code", 500), status, "WATCH", path)
                yield ev
        finally:
            conn.close()


# --------------------------------------------------------------------------------------------
# events, the legacy recorder way
# --------------------------------------------------------------------------------------------

class EventRecorder:
    """Writes core/v1 Events asynchronously, like client-go tools/record used by the kubelet.

    A repeat of the same (object, fieldPath, type, reason, message) within the cache's life
    patches count+1 and lastTimestamp on the existing Event instead of creating a new one.
    """

    def __init__(self, api: Api, node: str) -> None:
        self.api, self.node = api, node
        self.q: queue.Queue[tuple | None] = queue.Queue(maxsize=5000)
        self.seen: dict[tuple, tuple[str, int]] = {}
        self.thread = threading.Thread(target=self._run, name="events", daemon=True)
        self.thread.start()

    def pod_event(self, pod: dict, container: str | None, etype: str, reason: str, message: str) -> None:
        meta = pod["metadata"]
        ref = {
            "kind": "Pod", "apiVersion": "v1", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "resourceVersion": meta.get("resourceVersion", ""),
        }
        if container:
            ref["fieldPath"] = f"spec.containers{{{container}}}"
        try:
            self.q.put_nowait((ref, etype, reason, message, now_time()))
        except queue.Full:  # the real recorder drops too when its channel is full
            log.warning("event queue full, dropping %s %s", reason, message)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            try:
                self._write(*item)
            except Exception as e:  # noqa: BLE001 - an event failure must not kill the recorder
                log.warning("event write failed: %s", e)

    def _write(self, ref: dict, etype: str, reason: str, message: str, ts: str) -> None:
        ns = ref["namespace"]
        key = (ns, ref["uid"], ref.get("fieldPath", ""), etype, reason, message)
        if key in self.seen:
            name, count = self.seen[key]
            try:
                self.api.merge_patch(f"/api/v1/namespaces/{ns}/events/{name}",
                                     {"count": count + 1, "lastTimestamp": ts})
                self.seen[key] = (name, count + 1)
                return
            except ApiError as e:
                if e.status != 404:
                    raise
        name = f"{ref['name']}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref, "reason": reason, "message": message, "type": etype,
            "source": {"component": "kubelet", "host": self.node},
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
            "reportingComponent": "kubelet", "reportingInstance": self.node,
        }
        try:
            self.api.post(f"/api/v1/namespaces/{ns}/events", body)
        except ApiError as e:
            if e.status == 403 or e.status == 404:  # namespace being deleted: the kubelet gives up too
                return
            raise
        self.seen[key] = (name, 1)
        if len(self.seen) > 4096:  # LRU-ish bound like the recorder's cache
            for k in list(self.seen)[:1024]:
                del self.seen[k]


# --------------------------------------------------------------------------------------------
# the fake registry
# --------------------------------------------------------------------------------------------

def normalize_image(image: str) -> tuple[str, str, str]:
    """Return (normalized repository, tag, digest) the way the docker reference library does."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    first = image.split("/", 1)[0]
    if "/" not in image:
        repo = f"docker.io/library/{image}"
    elif "." in first or ":" in first or first == "localhost":
        repo = image
    else:
        repo = f"docker.io/{image}"
    if not tag and not digest:
        tag = "latest"
    return repo, tag, digest


class Registry:
    """Which images "exist": repository -> tags, from a YAML file re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._images: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            mtime = 0.0
        if mtime == self._mtime:
            return
        data = yaml.safe_load(self.path.read_text()) if mtime else {}
        images: dict[str, set[str]] = {}
        for repo, tags in ((data or {}).get("images") or {}).items():
            images[normalize_image(f"{repo}:x")[0]] = {str(t) for t in (tags or [])}
        self._images, self._mtime = images, mtime

    def pull(self, image: str) -> tuple[bool, str, str]:
        """Return (ok, imageID, error message)."""
        with self._lock:
            self._load()
            repo, tag, digest = normalize_image(image)
            ref = f"{repo}@{digest}" if digest else f"{repo}:{tag}"
            tags = self._images.get(repo)
            if tags is None:
                return False, "", (
                    f"rpc error: code = Unknown desc = failed to pull and unpack image \"{ref}\": "
                    f"failed to resolve reference \"{ref}\": pull access denied, repository does not "
                    "exist or may require authorization: server message: insufficient_scope: "
                    "authorization failed")
            if (digest and digest not in tags) or (not digest and tag not in tags):
                return False, "", (
                    f"rpc error: code = NotFound desc = failed to pull and unpack image \"{ref}\": "
                    f"failed to resolve reference \"{ref}\": {ref}: not found")
            fake_digest = digest or "sha256:" + hashlib.sha256(f"{repo}:{tag}".encode()).hexdigest()
            return True, f"{repo}@{fake_digest}", ""


class Backoff:
    """client-go flowcontrol.Backoff: per key, initial duration doubling up to a cap."""

    def __init__(self, initial: float, cap: float = MAX_BACKOFF) -> None:
        self.initial, self.cap = initial, cap
        self.entries: dict[str, tuple[float, float]] = {}  # key -> (duration, last update)

    def next(self, key: str, now: float) -> None:
        dur, last = self.entries.get(key, (0.0, 0.0))
        if dur == 0.0 or now - last > 2 * self.cap:  # new or expired entry
            dur = self.initial
        else:
            dur = min(dur * 2, self.cap)
        self.entries[key] = (dur, now)

    def get(self, key: str) -> float:
        return self.entries.get(key, (0.0, 0.0))[0]

    def in_backoff_since_update(self, key: str, now: float) -> float:
        """Seconds left of the back-off counted from the last update (0 = not in back-off)."""
        dur, last = self.entries.get(key, (0.0, 0.0))
        return max(0.0, last + dur - now) if dur else 0.0

    def in_backoff_since(self, key: str, event_time: float, now: float) -> float:
        dur, _ = self.entries.get(key, (0.0, 0.0))
        return max(0.0, event_time + dur - now) if dur else 0.0


# --------------------------------------------------------------------------------------------
# probes
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Probe:
    kind: str  # readiness | liveness | startup
    spec: dict
    start: float  # monotonic time the prober worker started (container start)
    next_tick: float
    result: bool | None  # current result as seen by the kubelet (None = unknown)
    run: int = 0  # consecutive identical raw results
    last_raw: bool | None = None

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    @property
    def initial_delay(self) -> int:
        return int(self.spec.get("initialDelaySeconds") or 0)

    @property
    def timeout(self) -> float:
        return float(self.spec.get("timeoutSeconds") or 1)

    @property
    def success_threshold(self) -> int:
        return int(self.spec.get("successThreshold") or 1)

    @property
    def failure_threshold(self) -> int:
        return int(self.spec.get("failureThreshold") or 3)

    def observe(self, ok: bool) -> bool:
        """Feed one raw result; return True if the kubelet-visible result changed."""
        self.run = self.run + 1 if ok == self.last_raw else 1
        self.last_raw = ok
        threshold = self.success_threshold if ok else self.failure_threshold
        if self.run >= threshold and self.result != ok:
            self.result = ok
            return True
        return False


# --------------------------------------------------------------------------------------------
# containers and pods
# --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pod_format(pod: dict) -> str:
    """kubelet's format.Pod: name_namespace(uid)."""
    m = pod["metadata"]
    return f"{m['name']}_{m['namespace']}({m['uid']})"


class Container:
    """One container of a pod: image pull state, the real app process, probes, restarts."""

    def __init__(self, worker: "PodWorker", spec: dict) -> None:
        self.w = worker
        self.spec = spec
        self.name: str = spec["name"]
        self.image: str = spec["image"]
        self.state = "waiting"  # waiting | running | terminated
        self.waiting_reason = "ContainerCreating"
        self.waiting_message = ""
        self.started_at = ""  # metav1.Time of the current run
        self.start_mono = 0.0
        self.terminated: dict | None = None  # state.terminated of the current (dead) run
        self.last_state: dict | None = None  # lastState.terminated
        self.restart_count = 0
        self.container_id = ""
        self.image_id = ""
        self.proc: subprocess.Popen | None = None
        self.port = 0  # the real loopback port of the app process
        self.next_action = time.monotonic()  # when to try pull / (re)start
        self.probes: dict[str, Probe] = {}
        self.started = False
        self.has_run = False
        self.terminated_mono = 0.0
        self.log_path = worker.kubelet.pods_dir / f"{worker.ns}_{worker.name}_{self.name}.log"

    # --- helpers
    @property
    def app_port(self) -> int:
        """The port the app listens on inside the 'pod' ($PORT as the image would see it)."""
        for e in self.spec.get("env") or []:
            if e.get("name") == "PORT" and str(e.get("value", "")).isdigit():
                return int(e["value"])
        return 5000  # the Dockerfile's ENV PORT=5000

    def resolve_port(self, port: Any) -> int | None:
        if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            return int(port)
        for p in self.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        return None

    @property
    def ready(self) -> bool:
        if self.state != "running" or not self.started:
            return False
        p = self.probes.get("readiness")
        return True if p is None else bool(p.result)

    def status(self) -> dict:
        st: dict[str, Any] = {
            "name": self.name, "image": self.image, "imageID": self.image_id,
            "ready": self.ready, "restartCount": self.restart_count,
            "started": self.state == "running" and self.started,
        }
        if self.container_id:
            st["containerID"] = self.container_id
        if self.state == "running":
            st["state"] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated" and self.terminated:
            st["state"] = {"terminated": self.terminated}
        else:
            waiting = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            st["state"] = {"waiting": waiting}
        st["lastState"] = {"terminated": self.last_state} if self.last_state else {}
        return st

    def event(self, etype: str, reason: str, message: str) -> None:
        self.w.kubelet.events.pod_event(self.w.pod, self.name, etype, reason, message)

    # --- the sync step of this container
    def sync(self, now: float) -> float:
        """Advance the container; return the next time it needs attention."""
        if self.state == "running":
            code = self.proc.poll() if self.proc else 0
            if code is not None:
                self._exited(code, "Error" if code else "Completed")
            else:
                self._run_probes(now)
                if self.state == "running":
                    nxt = now + PLEG_PERIOD
                    for p in self.probes.values():
                        nxt = min(nxt, p.next_tick)
                    return nxt
        if self.state == "terminated" or self.waiting_reason == "CrashLoopBackOff":
            policy = self.w.pod["spec"].get("restartPolicy", "Always")
            code = (self.terminated or {}).get("exitCode", 0)
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return now + 3600
            if now + 0.01 < self.next_action:
                return self.next_action
            return self._restart(now)
        # waiting: pull and start when due
        if now + 0.01 < self.next_action:
            return self.next_action
        return self._pull_and_start(now)

    def _restart(self, now: float) -> float:
        """The container is dead and must restart: CrashLoopBackOff or start again."""
        kl = self.w.kubelet
        key = f"{self.w.uid}_{self.name}"
        finished = self.terminated_mono
        left = kl.crash_backoff.in_backoff_since(key, finished, now)
        if left > 0:
            dur = kl.crash_backoff.get(key)
            self.event("Warning", "BackOff",
                       f"Back-off restarting failed container {self.name} in pod {pod_format(self.w.pod)}")
            self.last_state = self.terminated or self.last_state
            self.state, self.waiting_reason = "waiting", "CrashLoopBackOff"
            self.waiting_message = (f"back-off {go_duration(dur)} restarting failed container={self.name} "
                                    f"pod={pod_format(self.w.pod)}")
            self.next_action = now + left
            return self.next_action
        kl.crash_backoff.next(key, finished)
        self.last_state = self.terminated or self.last_state
        self.state = "waiting"
        self.waiting_reason, self.waiting_message = "ContainerCreating", ""
        self.next_action = now
        return self._pull_and_start(now)

    def _pull_and_start(self, now: float) -> float:
        kl = self.w.kubelet
        policy = self.spec.get("imagePullPolicy") or "IfNotPresent"
        present = self.image in kl.images_present
        if present and policy != "Always":
            self.event("Normal", "Pulled",
                       f"Container image \"{self.image}\" already present on machine and can be accessed by the pod")
        elif policy == "Never":
            msg = f"Container image \"{self.image}\" is not present with pull policy of Never"
            self.event("Warning", "ErrImageNeverPull", msg)
            self.event("Warning", "Failed", "Error: ErrImageNeverPull")
            self._waiting("ErrImageNeverPull", msg)
            self.next_action = now + jitter(kl.worker_backoff)
            return self.next_action
        else:
            key = f"{self.w.uid}_{self.image}"
            if kl.image_backoff.in_backoff_since_update(key, now) > 0:
                self.event("Normal", "BackOff", f"Back-off pulling image \"{self.image}\"")
                self.event("Warning", "Failed", "Error: ImagePullBackOff")
                prev = kl.prev_pull_err.get(key)
                msg = f"Back-off pulling image \"{self.image}\"" + (f": {prev}" if prev else "")
                self._waiting("ImagePullBackOff", msg)
                self.next_action = now + jitter(kl.worker_backoff)
                return self.next_action
            kl.prev_pull_err.pop(key, None)
            self.event("Normal", "Pulling", f"Pulling image \"{self.image}\"")
            t0 = time.monotonic()
            ok, image_id, err = kl.registry.pull(self.image)
            if not ok:
                self.event("Warning", "Failed", f"Failed to pull image \"{self.image}\": {err}")
                kl.image_backoff.next(key, time.monotonic())
                kl.prev_pull_err[key] = f"ErrImagePull: {err}"
                self.event("Warning", "Failed", "Error: ErrImagePull")
                self._waiting("ErrImagePull", err)
                self.next_action = time.monotonic() + jitter(kl.worker_backoff)
                return self.next_action
            if self.w.stop.wait(kl.pull_seconds):  # the "download"
                return now
            dt = time.monotonic() - t0
            size = int(hashlib.sha256(self.image.encode()).hexdigest()[:6], 16) + 40_000_000
            self.event("Normal", "Pulled", f"Successfully pulled image \"{self.image}\" in {dt * 1000:.0f}ms "
                       f"({dt * 1000:.0f}ms including waiting). Image size: {size} bytes.")
            kl.images_present[self.image] = image_id
        self.image_id = kl.images_present[self.image]
        return self._start(time.monotonic())

    def _waiting(self, reason: str, message: str) -> None:
        self.state, self.waiting_reason, self.waiting_message = "waiting", reason, message

    def _start(self, now: float) -> float:
        kl = self.w.kubelet
        self.port = free_port()  # a new one per start: a crashed run may have left it taken
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME")}
        for e in self.spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = str(e["value"])
        _, tag, _ = normalize_image(self.image)
        env.update(PORT=str(self.port), HOST="127.0.0.1", APP_VERSION=tag,
                   HOSTNAME=self.w.name, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, str(kl.app)]
        if shutil.which("setpriv"):  # the app dies with its pod worker thread, even on SIGKILL of us
            cmd = ["setpriv", "--pdeathsig", "KILL", "--", *cmd]
        self.container_id = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
        try:
            with open(self.log_path, "ab") as out:
                self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, cwd=str(kl.app.parent))
        except OSError as e:
            self.event("Warning", "Failed", f"Error: failed to start container \"{self.name}\": {e}")
            self._waiting("RunContainerError", str(e))
            self.next_action = now + jitter(kl.worker_backoff)
            return self.next_action
        if self.has_run:  # restartCount counts the dead instances of this container
            self.restart_count += 1
        self.has_run = True
        self.event("Normal", "Created", "Container created")
        self.event("Normal", "Started", "Container started")
        self.state = "running"
        self.started_at = now_time()
        self.start_mono = now
        self.terminated = None
        self.waiting_reason, self.waiting_message = "", ""
        self.probes = {}
        for kind, field in (("startup", "startupProbe"), ("readiness", "readinessProbe"),
                            ("liveness", "livenessProbe")):
            if self.spec.get(field):
                # readiness starts as failure, liveness as success, startup unknown (prober/worker.go)
                initial = {"readiness": False, "liveness": True, "startup": None}[kind]
                self.probes[kind] = Probe(kind, self.spec[field], now, now, initial)
        self.started = "startup" not in self.probes
        self.w.kubelet.write_pod_file(self.w)
        return self.sync(now)

    def _run_probes(self, now: float) -> None:
        for kind in ("startup", "liveness", "readiness"):
            p = self.probes.get(kind)
            if p is None or now + 0.005 < p.next_tick:
                continue
            while p.next_tick <= now + 0.005:  # the prober's ticker: every period from the start
                p.next_tick += p.period
            if kind != "startup" and not self.started:
                continue  # liveness/readiness wait for the startup probe
            if kind == "startup" and self.started:
                continue
            if int(now - p.start) < p.initial_delay:
                continue
            ok, output = self._probe_once(p)
            if not ok:
                self.event("Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {output}")
            changed = p.observe(ok)
            if kind == "startup" and changed and ok:
                self.started = True
            elif kind == "startup" and changed and not ok:
                self._kill(f"Container {self.name} failed startup probe, will be restarted", "Error")
                return
            elif kind == "liveness" and changed and not ok:
                self._kill(f"Container {self.name} failed liveness probe, will be restarted", "Error")
                return

    def _probe_once(self, p: Probe) -> tuple[bool, str]:
        spec = p.spec
        pod_ip = self.w.pod_ip
        if "httpGet" in spec:
            hg = spec["httpGet"]
            path = hg.get("path") or "/"
            if not path.startswith("/"):
                path = "/" + path
            port = self.resolve_port(hg.get("port"))
            scheme = (hg.get("scheme") or "HTTP").lower()
            url = f"{scheme}://{pod_ip}:{port}{path}"
            if port != self.app_port or scheme != "http":
                return False, f"Get \"{url}\": dial tcp {pod_ip}:{port}: connect: connection refused"
            headers = {"Host": f"{pod_ip}:{port}", "User-Agent": "kube-probe/1.37", "Accept": "*/*"}
            for h in hg.get("httpHeaders") or []:
                headers[h["name"]] = h.get("value", "")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=p.timeout)
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read(10 * 1024)
                if 200 <= resp.status < 400:
                    return True, ""
                return False, f"HTTP probe failed with statuscode: {resp.status}"
            except ConnectionRefusedError:
                return False, f"Get \"{url}\": dial tcp {pod_ip}:{port}: connect: connection refused"
            except (socket.timeout, TimeoutError):
                return False, (f"Get \"{url}\": context deadline exceeded "
                               "(Client.Timeout exceeded while awaiting headers)")
            except (OSError, http.client.HTTPException) as e:
                return False, f"Get \"{url}\": {e}"
            finally:
                conn.close()
        if "tcpSocket" in spec:
            port = self.resolve_port(spec["tcpSocket"].get("port"))
            if port != self.app_port:
                return False, f"dial tcp {pod_ip}:{port}: connect: connection refused"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=p.timeout).close()
                return True, ""
            except OSError:
                return False, f"dial tcp {pod_ip}:{port}: connect: connection refused"
        return True, ""  # exec / grpc probes are not emulated: success

    def _kill(self, message: str, reason_if_signalled: str, grace: float | None = None) -> None:
        """Killing event, SIGTERM, SIGKILL after the grace period; the container is terminated."""
        if self.state != "running" or self.proc is None:
            return
        self.event("Normal", "Killing", message)
        if grace is None:
            grace = float(self.w.pod["spec"].get("terminationGracePeriodSeconds", 30))
        proc = self.proc
        try:
            proc.terminate()
            proc.wait(timeout=max(grace, 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        code = proc.returncode
        exit_code = 128 - code if code < 0 else code  # -9 -> 137, -15 -> 143
        self._exited(exit_code, "Completed" if exit_code == 0 else reason_if_signalled)

    def _exited(self, code: int, reason: str) -> None:
        if code < 0:
            code = 128 - code
        self.terminated = {
            "exitCode": code, "reason": reason, "startedAt": self.started_at,
            "finishedAt": now_time(), "containerID": self.container_id,
        }
        self.terminated_mono = time.monotonic()
        self.state = "terminated"
        self.started = False
        self.proc = None
        self.probes = {}

    def kill_for_change(self, spec: dict) -> None:
        if self.state == "running":
            self._kill(f"Container {self.name} definition changed, will be restarted", "Error")
        self.spec, self.image = spec, spec["image"]
        self.image_id = ""
        if self.state == "waiting":
            self.next_action = time.monotonic()

    def stop(self, grace: float) -> None:
        self._kill(f"Stopping container {self.name}", "Error", grace)

    def kill_now(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


class PodWorker(threading.Thread):
    """One thread per pod UID, like the kubelet's pod workers: sync on change or on a timer."""

    def __init__(self, kubelet: "Kubelet", pod: dict) -> None:
        m = pod["metadata"]
        super().__init__(name=f"pod-{m['namespace']}/{m['name']}", daemon=True)
        self.kubelet = kubelet
        self.pod = pod
        self.uid, self.ns, self.name = m["uid"], m["namespace"], m["name"]
        self.cond = threading.Condition()
        self.dirty = True
        self.removed = False
        self.stop = threading.Event()
        self.containers = [Container(self, c) for c in pod["spec"]["containers"]]
        self.pod_ip = kubelet.allocate_ip(self.uid)
        self.start_time = ""
        self.conditions: dict[str, tuple[str, str, str, str]] = {}  # type -> (status, time, reason, msg)
        self.last_patch: tuple[Any, float] | None = None
        self.terminating_done = False

    # called by the watcher
    def update(self, pod: dict) -> None:
        with self.cond:
            self.pod = pod
            self.dirty = True
            self.cond.notify()

    def remove(self) -> None:
        with self.cond:
            self.removed = True
            self.stop.set()
            self.cond.notify()

    def run(self) -> None:
        next_at = 0.0
        while True:
            with self.cond:
                while not self.dirty and not self.removed:
                    timeout = next_at - time.monotonic()
                    if timeout <= 0:
                        break
                    self.cond.wait(timeout)
                self.dirty = False
                removed = self.removed
            if removed or self.kubelet.stopping.is_set():
                for c in self.containers:
                    c.kill_now()
                self.kubelet.forget(self)
                return
            try:
                next_at = self.sync()
            except Exception:  # noqa: BLE001 - keep the worker alive, retry like the kubelet
                log.exception("sync of pod %s/%s failed", self.ns, self.name)
                next_at = time.monotonic() + jitter(WORKER_BACKOFF)

    def sync(self) -> float:
        now = time.monotonic()
        if self.pod["metadata"].get("deletionTimestamp"):
            return self.sync_terminating()
        if not self.start_time:  # first sync: report Pending/ContainerCreating before pulling
            self.start_time = (self.pod.get("status") or {}).get("startTime") or now_time()
            self.write_status()
        next_at = now + 60.0  # resyncInterval
        specs = {c["name"]: c for c in self.pod["spec"]["containers"]}
        for c in self.containers:  # only the image of a pod's container is mutable
            new = specs.get(c.name)
            if new and new.get("image") != c.image:
                c.kill_for_change(new)
        for c in self.containers:
            next_at = min(next_at, c.sync(time.monotonic()))
        self.write_status()
        return next_at

    def sync_terminating(self) -> float:
        if self.terminating_done:
            return time.monotonic() + 5.0
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        grace = float(grace if grace is not None else self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        for c in self.containers:
            if c.state == "running":
                c.stop(grace)
        self.write_status(final=True)
        try:
            self.kubelet.api.delete(
                f"/api/v1/namespaces/{self.ns}/pods/{self.name}",
                {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                 "preconditions": {"uid": self.uid}})
        except ApiError as e:
            if e.status not in (404, 409):
                raise
        self.terminating_done = True
        return time.monotonic() + 5.0

    # --- status
    def _cond(self, ctype: str, status: bool, reason: str = "", message: str = "") -> dict:
        s = "True" if status else "False"
        prev = self.conditions.get(ctype)
        if prev is None:  # keep the transition time already on the server (e.g. after our restart)
            for c in (self.pod.get("status") or {}).get("conditions") or []:
                if c.get("type") == ctype and c.get("status") == s and c.get("lastTransitionTime"):
                    prev = (s, c["lastTransitionTime"], reason, message)
        if prev is None or prev[0] != s:
            prev = (s, now_time(), reason, message)
        else:
            prev = (s, prev[1], reason, message)
        self.conditions[ctype] = prev
        d: dict[str, Any] = {"type": ctype, "status": s, "lastProbeTime": None, "lastTransitionTime": prev[1]}
        if reason:
            d["reason"] = reason
        if message:
            d["message"] = message
        return d

    def phase(self, final: bool = False) -> str:
        states = [c.state for c in self.containers]
        policy = self.pod["spec"].get("restartPolicy", "Always")
        codes = [(c.terminated or {}).get("exitCode", 0) for c in self.containers]
        if final:
            return "Succeeded" if all(code == 0 for code in codes) else "Failed"
        if all(s == "terminated" for s in states) and policy != "Always":
            if all(code == 0 for code in codes):
                return "Succeeded"
            if policy == "Never" or all(code == 0 for code in codes):
                return "Failed"
        if any(s == "running" or c.restart_count > 0 or c.last_state for s, c in zip(states, self.containers)):
            return "Running"
        return "Pending"

    def write_status(self, final: bool = False) -> None:
        not_ready = [c.name for c in self.containers if not c.ready or final]
        containers_ready = not not_ready
        gates = [g["conditionType"] for g in self.pod["spec"].get("readinessGates") or []]
        current = {c["type"]: c for c in (self.pod.get("status") or {}).get("conditions") or []}
        gates_ok = all(current.get(g, {}).get("status") == "True" for g in gates)
        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
        conds = [
            self._cond("PodReadyToStartContainers", not final),
            self._cond("Initialized", True),
            self._cond("Ready", containers_ready and gates_ok,
                       "" if containers_ready and gates_ok else
                       ("ContainersNotReady" if not containers_ready else "ReadinessGatesNotReady"),
                       msg if not containers_ready else
                       ("" if gates_ok else "corresponding condition of pod readiness gate is not true")),
            self._cond("ContainersReady", containers_ready, "" if containers_ready else "ContainersNotReady", msg),
        ]
        mine = {c["type"] for c in conds}
        conds += [c for t, c in current.items() if t not in mine]  # PodScheduled, DisruptionTarget, gates
        status = {
            "phase": self.phase(final),
            "conditions": conds,
            "hostIP": self.kubelet.node_ip, "hostIPs": [{"ip": self.kubelet.node_ip}],
            "podIP": self.pod_ip, "podIPs": [{"ip": self.pod_ip}],
            "startTime": self.start_time,
            "containerStatuses": [c.status() for c in self.containers],
        }
        if final:
            for cs, c in zip(status["containerStatuses"], self.containers):
                cs["ready"] = False
                cs["started"] = False
                if c.terminated:
                    cs["state"] = {"terminated": c.terminated}
        server = self.pod.get("status") or {}
        if all(prune(status[k]) == prune(server.get(k)) for k in status):
            return
        key = json.dumps(status, sort_keys=True)
        if self.last_patch and self.last_patch[0] == key and time.monotonic() - self.last_patch[1] < 30:
            return  # already sent; the watch has not caught up yet
        try:
            new = self.kubelet.api.merge_patch(f"/api/v1/namespaces/{self.ns}/pods/{self.name}/status",
                                               {"status": status})
            self.last_patch = (key, time.monotonic())
            with self.cond:
                if int(new["metadata"]["resourceVersion"]) > int(self.pod["metadata"].get("resourceVersion") or 0):
                    self.pod = new
        except ApiError as e:
            if e.status != 404:
                raise


def prune(v: Any) -> Any:
    """Drop None/empty values, for comparing what we send with what the server returns."""
    if isinstance(v, dict):
        out = {k: prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [], "")}
    if isinstance(v, list):
        return [prune(x) for x in v]
    return v


# --------------------------------------------------------------------------------------------
# the kubelet: node, lease, pod watch
# --------------------------------------------------------------------------------------------

class Kubelet:
    def __init__(self, args: argparse.Namespace) -> None:
        self.api = Api(args.kubeconfig, args.context)
        self.node = args.node_name
        self.node_ip = "127.0.0.1"
        self.registry = Registry(Path(args.registry))
        self.app = Path(args.app).resolve()
        self.state_dir = Path(args.state_dir)
        self.pods_dir = self.state_dir / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self.events = EventRecorder(self.api, self.node)
        self.image_backoff = Backoff(args.image_backoff)
        self.crash_backoff = Backoff(10.0)
        # the pod worker's error requeue (10 s in the kubelet) never exceeds the image back-off,
        # so that a shortened back-off really alternates ErrImagePull / ImagePullBackOff faster
        self.worker_backoff = min(WORKER_BACKOFF, args.image_backoff)
        self.pull_seconds = args.pull_seconds
        self.prev_pull_err: dict[str, str] = {}
        self.images_present: dict[str, str] = {}
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.RLock()  # dispatch() holds it while a PodWorker allocates its IP
        self.stopping = threading.Event()
        net = args.pod_cidr.split("/")[0].split(".")
        self.ip_prefix = ".".join(net[:2])
        self.ips: dict[str, str] = {}
        self.next_ip = 2
        self.node_uid = ""

    # --- pod IPs (fake, never contacted) and the pod -> process map
    def allocate_ip(self, uid: str) -> str:
        with self.lock:
            if uid not in self.ips:
                n = self.next_ip
                self.next_ip += 1
                self.ips[uid] = f"{self.ip_prefix}.{n // 254}.{n % 254 + 1}"
            return self.ips[uid]

    def write_pod_file(self, w: PodWorker) -> None:
        data = {
            "namespace": w.ns, "name": w.name, "uid": w.uid, "podIP": w.pod_ip,
            "containers": {c.name: {"host": "127.0.0.1", "port": c.port, "containerPort": c.app_port,
                                    "pid": c.proc.pid if c.proc else None, "log": str(c.log_path)}
                           for c in w.containers if c.port},
        }
        path = self.pods_dir / f"{w.ns}_{w.name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

    def forget(self, w: PodWorker) -> None:
        with self.lock:
            if self.workers.get(w.uid) is w:
                del self.workers[w.uid]
            self.ips.pop(w.uid, None)
        try:
            (self.pods_dir / f"{w.ns}_{w.name}.json").unlink()
        except FileNotFoundError:
            pass

    # --- node and lease
    def node_status(self) -> dict:
        t = now_time()
        u = os.uname()

        def cond(ctype: str, status: str, reason: str, message: str) -> dict:
            return {"type": ctype, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": t, "lastTransitionTime": self._node_transition.setdefault(ctype, t)}
        resources = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        return {
            "capacity": resources, "allocatable": resources,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": self.node_ip},
                          {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": hashlib.md5(self.node.encode()).hexdigest(),  # noqa: S324 - an id, not security
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node)),
                "bootID": self._boot_id, "kernelVersion": u.release, "osImage": "release-drills fake node",
                "containerRuntimeVersion": "fake://0.1.0", "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
        }

    def register_node(self) -> None:
        self._node_transition: dict[str, str] = {}
        self._boot_id = str(uuid.uuid4())
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                           "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                           "beta.kubernetes.io/arch": "amd64", "release-drills/fake-kubelet": "true"},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            },
            "spec": {},
        }
        while not self.stopping.is_set():
            try:
                try:
                    node = self.api.post("/api/v1/nodes", body)
                    log.info("registered node %s", self.node)
                except ApiError as e:
                    if e.status != 409:
                        raise
                    node = self.api.get(f"/api/v1/nodes/{self.node}")
                self.node_uid = node["metadata"]["uid"]
                self.post_node_status()
                return
            except (ApiError, OSError, http.client.HTTPException) as e:
                log.warning("node registration failed (%s); retrying", e)
                self.stopping.wait(2)

    def post_node_status(self) -> None:
        self.api.merge_patch(f"/api/v1/nodes/{self.node}/status", {"status": self.node_status()})

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        spec = {"holderIdentity": self.node, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now_microtime()}
        try:
            lease = self.api.get(path)
            lease["spec"].update(spec)
            self.api.put(path, lease)
        except ApiError as e:
            if e.status != 404:
                raise
            self.api.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node, "namespace": "kube-node-lease",
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node,
                                                  "uid": self.node_uid}]},
                "spec": spec,
            })

    def heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self.stopping.wait(LEASE_RENEW if self.node_uid else 1.0):
            try:
                self.renew_lease()
                if time.monotonic() - last_status >= NODE_STATUS_REPORT:
                    self.post_node_status()
                    last_status = time.monotonic()
            except ApiError as e:
                if e.status == 404 and "nodes" in str(e):  # node deleted under us: register again
                    self.register_node()
                log.warning("heartbeat failed: %s", e)
            except (OSError, http.client.HTTPException) as e:
                log.warning("heartbeat failed: %s", e)

    # --- pods
    def dispatch(self, etype: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            w = self.workers.get(uid)
            if etype == "DELETED":
                if w is not None:
                    w.remove()
                return
            if w is None:
                w = PodWorker(self, pod)
                self.workers[uid] = w
                w.start()
                return
        w.update(pod)

    def watch_pods(self) -> None:
        path = "/api/v1/pods"
        selector = {"fieldSelector": f"spec.nodeName={self.node}"}
        rv = ""
        delay = 1.0
        while not self.stopping.is_set():
            try:
                if not rv:
                    lst = self.api.get(path, query=selector)
                    rv = lst["metadata"]["resourceVersion"]
                    seen = {p["metadata"]["uid"] for p in lst["items"]}
                    with self.lock:
                        stale = [w for uid, w in self.workers.items() if uid not in seen]
                    for w in stale:  # deleted while we were not watching
                        w.remove()
                    for p in lst["items"]:
                        self.dispatch("MODIFIED", p)
                for ev in self.api.watch(path, dict(selector, resourceVersion=rv, allowWatchBookmarks="true",
                                                    timeoutSeconds="300"), self.stopping, timeout=330):
                    obj = ev["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] != "BOOKMARK":
                        self.dispatch(ev["type"], obj)
                delay = 1.0
            except Gone:
                log.info("watch resourceVersion %s too old (410 Gone): relisting", rv)
                rv = ""
            except (ApiError, OSError, http.client.HTTPException, ValueError) as e:
                log.warning("pod watch failed (%s); retrying in %.0fs", e, delay)
                if self.stopping.wait(delay):
                    return
                delay = min(delay * 2, 30.0)
                if isinstance(e, ApiError):
                    rv = ""  # relist after an API error; a dropped connection re-watches from rv

    def run(self) -> None:
        self.register_node()
        self.renew_lease()
        threads = [threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True),
                   threading.Thread(target=self.watch_pods, name="pod-watch", daemon=True)]
        for t in threads:
            t.start()
        self.stopping.wait()
        log.info("stopping: killing app processes")
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.remove()
        for w in workers:
            w.join(timeout=10)
        self.events.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--context", default=None)
    ap.add_argument("--node-name", default="drill-node-0")
    ap.add_argument("--registry", default=str(DEFAULT_REGISTRY))
    ap.add_argument("--app", default=str(DEFAULT_APP), help="the program every container runs")
    ap.add_argument("--state-dir", default=tempfile.gettempdir() + "/fake-kubelet")
    ap.add_argument("--pod-cidr", default="10.244.0.0/16", help="fake pod IPs (never contacted)")
    ap.add_argument("--image-backoff", type=float,
                    default=float(os.environ.get("DRILLS_KUBELET_IMAGE_BACKOFF", "10")),
                    help="initial image pull back-off in seconds (kubelet: 10; doubles up to 300)")
    ap.add_argument("--pull-seconds", type=float, default=0.3, help="how long a successful pull takes")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s: %(message)s")
    kubelet = Kubelet(args)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d", signum)
        kubelet.stopping.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kubelet.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
