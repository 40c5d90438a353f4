"""Kubernetes Events as the simulated components emit them; they expire after the apiserver's
``--event-ttl`` (default 1 h), as real ones do.

The kubelet and the deployment controller use the legacy recorder (client-go tools/record):
``firstTimestamp``/``lastTimestamp`` with whole seconds, ``count``, no ``eventTime``; repeats of
the same (object, reason, message) bump ``count`` on one Event. The scheduler uses the new
events library: ``eventTime`` with microseconds and no first/last timestamps.
"""
from __future__ import annotations

import hashlib

from runner.targets.sim.kernel import Kernel
from runner.view import Obj


EVENT_TTL_SECONDS = 3600.0
"""kube-apiserver --event-ttl default (1h0m0s)."""


def _expire(kernel: Kernel, ns: str, name: str, rv: str) -> None:
    ev = kernel.peek("Event", ns, name)
    if ev is not None and ev["metadata"].get("resourceVersion") == rv:  # not bumped since
        kernel.delete("Event", ns, name)


def record(kernel: Kernel, involved: Obj, etype: str, reason: str, message: str, component: str,
           *, legacy: bool = True, host: str | None = None) -> None:
    md = involved["metadata"]
    ns = md.get("namespace", "default")
    digest = hashlib.sha1(f"{md.get('uid')}|{reason}|{message}|{component}".encode()).hexdigest()[:16]
    name = f"{md['name']}.{digest}"
    existing = kernel.peek("Event", ns, name)
    ref = {"kind": involved["kind"], "namespace": ns, "name": md["name"], "uid": md.get("uid"),
           "apiVersion": involved.get("apiVersion", "v1")}
    if existing is not None and legacy:
        ev = kernel.get("Event", ns, name)
        assert ev is not None
        ev["count"] = ev.get("count", 1) + 1
        ev["lastTimestamp"] = kernel.api_time()
        rv = kernel.update(ev)["metadata"]["resourceVersion"]
        kernel.schedule(EVENT_TTL_SECONDS, lambda: _expire(kernel, ns, name, rv))
        return
    ev = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": etype,
        "source": {"component": component, **({"host": host} if host else {})},
        "reportingComponent": component,
        "reportingInstance": host or "",
    }
    if legacy:
        ev.update({"firstTimestamp": kernel.api_time(), "lastTimestamp": kernel.api_time(), "count": 1, "eventTime": None})
    else:
        ev.update({"eventTime": kernel.micro_time(), "action": "Binding", "reportingController": component})
    if existing is not None:
        kernel.delete("Event", ns, name)
    rv = kernel.create(ev)["metadata"]["resourceVersion"]
    kernel.schedule(EVENT_TTL_SECONDS, lambda: _expire(kernel, ns, name, rv))
