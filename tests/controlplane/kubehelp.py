"""Helpers for kube-target tests on the real control plane: a targets file, a Helm release of the
sample chart, the apiserver's audit record as ground truth, forcing a 410 Gone."""
from __future__ import annotations

import base64
import json
import textwrap
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "kind" / "platform-config" / "apps" / "week6-api"


def targets_file(path: Path, cp: Any, namespaces: Iterable[str], *, production_like: bool = False,
                 gitops: dict[str, Any] | None = None, charts: dict[str, str] | None = None, name: str = "plane") -> Path:
    doc = {
        "apiVersion": "drills.release/v1", "kind": "Targets", "metadata": {"name": "test"},
        "spec": {"default": name, "targets": {name: {
            "context": cp.context, "kubeconfig": str(cp.kubeconfig), "namespaces": list(namespaces),
            "production-like": production_like,
            "helm": {"binary": str(cp.helm_bin), "charts": charts or {}},
            **({"gitops": gitops} if gitops else {}),
        }}},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def install_release(cp: Any, namespace: str, release: str = "week6-api") -> None:
    cp.helm("upgrade", "--install", release, str(CHART), "-n", namespace, "--create-namespace",
            "-f", str(CHART / "values-dev.yaml"), "--wait", "--timeout", "120s")


def drill_yaml(name: str, namespace: str, fault: dict[str, Any], detect: list[dict[str, Any]], rollback: str,
               recover: list[dict[str, Any]], *, release: str = "week6-api", recover_timeout: str = "120s") -> str:
    doc = {"apiVersion": "drills.release/v1", "kind": "Drill", "metadata": {"name": name},
           "spec": {"target": {"release": release, "namespace": namespace, "deployment": "week6-api"},
                    "fault": fault, "detect": {"timeout": "90s", "any": detect},
                    "rollback": {"strategy": rollback},
                    "recover": {"timeout": recover_timeout, "all": recover}}}
    return yaml.safe_dump(doc, sort_keys=False)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def audit_writes(cp: Any, *, namespace: str | None = None, user: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 match: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
    """Audited writes, oldest first, filtered."""
    out = []
    for ev in cp.audit_events():
        ref = ev.get("objectRef") or {}
        when = ts(ev["stageTimestamp"])
        if namespace is not None and ref.get("namespace") != namespace:
            continue
        if user is not None and (ev.get("user") or {}).get("username") != user:
            continue
        if since is not None and when < since or until is not None and when > until:
            continue
        if match is not None and not match(ev):
            continue
        out.append(ev)
    return sorted(out, key=lambda e: e["stageTimestamp"])


def body(ev: dict[str, Any]) -> str:
    return json.dumps(ev.get("requestObject") or {})


def etcd_compact(cp: Any) -> int:
    """Compact etcd at its current revision (etcd's JSON gateway): older resourceVersions 410."""
    def post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(cp.etcd_url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            return json.loads(resp.read())
    rev = int(post("/v3/kv/range", {"key": base64.b64encode(b"/registry").decode()})["header"]["revision"])
    post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
    return rev


DOC = textwrap.dedent
