"""The sample chart (kind/platform-config/apps/week6-api) rendered in Python, for the simulator.

This is the simulator's one stand-in for a real tool: ``helm template`` of this one chart. It
reads the real values files (values.yaml, then each value file in order, then ``--set``
overrides; maps merge key by key, lists are replaced, as Helm does) and builds the same
Deployment, Service and ServiceAccount the templates do. A control-plane test compares it with
the real helm's output. It does not render any other chart.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import yaml

CHART = "week6-api"
CHART_VERSION = "0.1.0"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps key by key, everything else replaced; null deletes."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def set_dotted(values: dict[str, Any], dotted: str, raw: str) -> None:
    """Apply one ``--set key=value`` (Helm parses ints and booleans)."""
    value: Any = raw
    if raw in ("true", "false"):
        value = raw == "true"
    else:
        try:
            value = int(raw)
        except ValueError:
            pass
    node = values
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def merged_values(files: Mapping[str, str], chart_path: str, value_files: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(files[f"{chart_path}/values.yaml"]) or {}
    for vf in value_files:
        text = files.get(f"{chart_path}/{vf}")
        if text is None:
            raise FileNotFoundError(f"{chart_path}/{vf}: values file not found")
        values = deep_merge(values, yaml.safe_load(text) or {})
    return values


def render(values: Mapping[str, Any], release: str, namespace: str, *, managed_by: str = "Helm",
           app_version: str = "1.0.0") -> list[dict[str, Any]]:
    """The chart's manifests for ``values`` (templates/deployment.yaml, service.yaml, serviceaccount.yaml)."""
    v = values
    labels = {
        "app.kubernetes.io/name": CHART,
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/version": app_version,
        "app.kubernetes.io/managed-by": managed_by,
        "helm.sh/chart": f"{CHART}-{CHART_VERSION}",
    }
    selector = {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": release}
    sa = v.get("serviceAccount") or {}
    sa_name = (sa.get("name") or release) if sa.get("create") else (sa.get("name") or "default")
    probes = v.get("probes") or {}
    rp, lp = probes.get("readiness") or {}, probes.get("liveness") or {}
    port = v["service"]["targetPort"]
    readiness: dict[str, Any] = {"httpGet": {"path": rp.get("path"), "port": port},
                                 "initialDelaySeconds": rp.get("initialDelaySeconds"),
                                 "periodSeconds": rp.get("periodSeconds")}
    if rp.get("failureThreshold"):
        readiness["failureThreshold"] = rp["failureThreshold"]
    out: list[dict[str, Any]] = []
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": release, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": v.get("replicaCount"),
            "progressDeadlineSeconds": v.get("progressDeadlineSeconds"),
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {"labels": dict(selector)},
                "spec": {
                    "serviceAccountName": sa_name,
                    "containers": [{
                        "name": CHART,
                        "image": f"{v['image']['repository']}:{v['image']['tag']}",
                        "imagePullPolicy": v["image"].get("pullPolicy"),
                        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                        "readinessProbe": readiness,
                        "livenessProbe": {"httpGet": {"path": lp.get("path"), "port": port},
                                          "initialDelaySeconds": lp.get("initialDelaySeconds"),
                                          "periodSeconds": lp.get("periodSeconds")},
                        "resources": copy.deepcopy(v.get("resources") or {}),
                    }],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": release, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "type": v["service"].get("type", "ClusterIP"),
            "selector": dict(selector),
            "ports": [{"name": "http", "port": v["service"]["port"], "targetPort": port, "protocol": "TCP"}],
        },
    }
    if sa.get("create"):
        out.append({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": sa_name, "namespace": namespace, "labels": dict(labels)}})
    out += [service, deployment]
    return out
