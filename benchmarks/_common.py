"""Shared helpers of the benchmark scripts: the test control plane, drill documents, the audit
log as ground truth, percentiles, tables and charts.

Benchmarks only: nothing in ``runner/`` imports this, and it changes nothing outside
``benchmarks/`` (the control plane lives in a temp state dir and is stopped at the end).
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "kind" / "platform-config" / "apps" / "week6-api"
CONTROLPLANE = REPO / "tests" / "controlplane"
if str(CONTROLPLANE) not in sys.path:  # plane.py lives there; tests/ is not a package
    sys.path.insert(0, str(CONTROLPLANE))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

APP_SELECTOR = "app.kubernetes.io/name=week6-api,app.kubernetes.io/instance=week6-api"
RUNNER_UA_PREFIX = "OpenAPI-Generator/"  # the kubernetes python client's default User-Agent


# --- machine -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    return {"cores": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(), "loadavg": load,
            "kernel": platform.release(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# --- the control plane ---------------------------------------------------------------------------


def start_plane(state_dir: Path, **kw: Any) -> Any:
    """Build-or-reuse and start a ControlPlane in ``state_dir`` (stopped by the caller)."""
    from plane import ControlPlane

    cp = ControlPlane(state_dir, **kw)
    cp.start()
    return cp


def install_release(cp: Any, namespace: str, release: str = "week6-api", extra: Sequence[str] = ()) -> None:
    cp.helm("upgrade", "--install", release, str(CHART), "-n", namespace, "--create-namespace",
            "-f", str(CHART / "values-dev.yaml"), *extra, "--wait", "--timeout", "180s")


def write_targets(path: Path, cp: Any, namespaces: Iterable[str], name: str = "plane") -> Path:
    """A ``kind: Targets`` file for the plane; every namespace gets the chart for helm upgrades."""
    namespaces = list(namespaces)
    doc = {
        "apiVersion": "drills.release/v1", "kind": "Targets", "metadata": {"name": "bench"},
        "spec": {"default": name, "targets": {name: {
            "context": cp.context, "kubeconfig": str(cp.kubeconfig), "namespaces": namespaces,
            "helm": {"binary": str(cp.helm_bin), "charts": {f"{ns}/week6-api": str(CHART) for ns in namespaces}},
        }}},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def kube_target(targets_path: Path, name: str = "plane") -> Any:
    from runner import loader
    from runner.targets.kube import KubeTarget

    docs = loader.load_file(targets_path)
    if docs.problems:
        raise SystemExit(f"bad targets file: {[str(p) for p in docs.problems]}")
    f = docs.documents[0].model
    return KubeTarget(name, f.spec.targets[name], config_path=targets_path)


def api_client(cp: Any, user_agent: str) -> Any:
    """An ApiClient with its own User-Agent, so the audit log tells its writes from the runner's."""
    c = cp.api_client()
    c.user_agent = user_agent
    return c


def new_ns(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


# --- drills ----------------------------------------------------------------------------------------


def drill_yaml(name: str, namespace: str, fault: dict[str, Any], detect: list[dict[str, Any]], rollback: str | dict[str, Any],
               recover: list[dict[str, Any]], *, detect_timeout: str = "90s", recover_timeout: str = "120s") -> str:
    doc = {"apiVersion": "drills.release/v1", "kind": "Drill", "metadata": {"name": name},
           "spec": {"target": {"release": "week6-api", "namespace": namespace, "deployment": "week6-api"},
                    "fault": fault, "detect": {"timeout": detect_timeout, "any": detect},
                    "rollback": {"strategy": rollback} if isinstance(rollback, str) else rollback,
                    "recover": {"timeout": recover_timeout, "all": recover}}}
    return yaml.safe_dump(doc, sort_keys=False)


def load_drill(text: str, path: Path) -> Any:
    from runner import loader

    path.write_text(text)
    docs = loader.load_file(path)
    if docs.problems:
        raise SystemExit(f"bad drill {path}: {[str(p) for p in docs.problems]}")
    return docs.documents[0].model


# --- ground truth: the audit log -----------------------------------------------------------------


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Audit:
    """The apiserver's audit log, read incrementally (the file only grows during a run)."""

    def __init__(self, cp: Any) -> None:
        self.path = Path(cp.audit_log)
        self.offset = 0
        self.events: list[dict[str, Any]] = []

    def refresh(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return self.events
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return self.events
        for line in data[:end].splitlines():
            if line.strip():
                ev = json.loads(line)
                ev["_at"] = ts(ev["stageTimestamp"])
                self.events.append(ev)
        self.offset += end + 1
        return self.events

    def writes(self, *, namespace: str | None = None, since: datetime | None = None,
               match: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        out = []
        for ev in self.refresh():
            ref = ev.get("objectRef") or {}
            if namespace is not None and ref.get("namespace") != namespace:
                continue
            if since is not None and ev["_at"] < since:
                continue
            if match is not None and not match(ev):
                continue
            out.append(ev)
        return sorted(out, key=lambda e: e["_at"])


def body(ev: dict[str, Any]) -> str:
    return json.dumps(ev.get("requestObject") or {})


def ref_is(ev: dict[str, Any], resource: str, subresource: str | None = None, name: str | None = None) -> bool:
    ref = ev.get("objectRef") or {}
    return (ref.get("resource") == resource and ref.get("subresource") == subresource
            and (name is None or ref.get("name") == name))


def ok(ev: dict[str, Any]) -> bool:
    code = (ev.get("responseStatus") or {}).get("code", 200)
    return 200 <= int(code) < 300


# --- predicates on raw objects (independent of runner/) ------------------------------------------


def _cond(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c  # type: ignore[no-any-return]
    return {}


def deployment_complete(dep: dict[str, Any]) -> bool:
    """kubectl rollout status (rollout_status.go) and Available=True: what deployment-available means."""
    md, spec, st = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    if (md.get("generation") or 0) > (st.get("observedGeneration") or 0):
        return False
    if _cond(dep, "Progressing").get("reason") == "ProgressDeadlineExceeded":
        return False
    want, updated = spec.get("replicas", 1), st.get("updatedReplicas") or 0
    if updated < want or (st.get("replicas") or 0) > updated or (st.get("availableReplicas") or 0) < updated:
        return False
    return _cond(dep, "Available").get("status") == "True"


def replicas_equal(dep: dict[str, Any], want: int) -> bool:
    """replicas-equal {replicas: want, ready: true}."""
    md, spec, st = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    if spec.get("replicas", 1) != want or (md.get("generation") or 0) > (st.get("observedGeneration") or 0):
        return False
    return (st.get("readyReplicas") or 0) == want and (st.get("replicas") or 0) == want


def pod_waiting(pod: dict[str, Any], reasons: Sequence[str]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if ((cs.get("state") or {}).get("waiting") or {}).get("reason") in reasons:
            return True
    return False


# --- statistics, tables, charts --------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan for no values."""
    xs = sorted(values)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt(x: float | None, unit: str = "ms", digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if unit == "ms":
        return f"{x * 1000:.{digits}f}"
    return f"{x:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-markdown table (also readable on a terminal)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    align = align or ("l" + "r" * (len(headers) - 1))

    def line(vals: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) if a == "l" else v.rjust(w) for v, w, a in zip(vals, widths, align)) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    return "\n".join([line(list(headers)), sep, *(line(r) for r in cells)])


def pyplot() -> Any:
    """matplotlib's pyplot with a file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))


def git_rev() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
