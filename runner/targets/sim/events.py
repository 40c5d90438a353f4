"""Kubernetes Events as the simulated components emit them.

The kubelet and the deployment controller use the legacy recorder (client-go tools/record):
``firstTimestamp``/``lastTimestamp`` with whole seconds, ``count``, no ``eventTime``; repeats of
the same (object, reason, message) bump ``count`` on one Event. The scheduler uses the new
events library: ``eventTime`` with microseconds and no first/last timestamps.
"""
from __future__ import annotations

import hashlib

from runner.targets.sim.kernel import Kernel
from runner.view import Obj


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
        kernel.update(ev)
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
    kernel.create(ev)
