"""Build drill documents for tests (the same shape as drill files)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runner import loader
from runner.model import Drill

ROOT = Path(__file__).resolve().parents[1]
EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)

# Every fault x injection path x rollback x environment that applies (the engine matrix).
MATRIX = [
    ("image-tag", "git", "git-revert", "dev"),
    ("image-tag", "git", "argocd-rollback", "stage"),
    ("image-tag", "helm", "helm-rollback", "sandbox"),
    ("image-tag", "helm", "rollout-undo", "sandbox"),
    ("image-tag", "api", "rollout-undo", "stage"),
    ("image-tag", "api", "self-heal", "dev"),
    ("image-tag", "api", "argocd-rollback", "stage"),
    ("readiness-path", "git", "git-revert", "dev"),
    ("readiness-path", "git", "argocd-rollback", "stage"),
    ("readiness-path", "helm", "helm-rollback", "sandbox"),
    ("readiness-path", "api", "rollout-undo", "stage"),
    ("readiness-path", "api", "self-heal", "dev"),
    ("replica-drift", "git", "git-revert", "dev"),
    ("replica-drift", "helm", "helm-rollback", "sandbox"),
    ("replica-drift", "api", "self-heal", "dev"),
    ("delete-resource", "api", "self-heal", "dev"),
]

TARGETS = {
    "dev": {"application": "week6-api-dev", "namespace": "dev", "deployment": "week6-api"},
    "stage": {"application": "week6-api-stage", "namespace": "stage", "deployment": "week6-api"},
    "prod": {"application": "week6-api-prod", "namespace": "prod", "deployment": "week6-api"},
    "sandbox": {"release": "week6-api", "namespace": "sandbox", "deployment": "week6-api"},
}
PARAMS = {
    "image-tag": {"tag": "does-not-exist-0000"},
    "readiness-path": {"path": "/healthz-wrong"},
    "replica-drift": {"replicas": 4},
    "delete-resource": {"kind": "Service", "name": "week6-api"},
}
DETECT = {
    "image-tag": [{"pod-waiting": {"reasons": ["ErrImagePull", "ImagePullBackOff"]}}],
    "readiness-path": [{"event": {"reason": "Unhealthy", "message": "Readiness probe failed"}}],
    "replica-drift": [{"replicas-drift": {}}],
    "delete-resource": [{"resource-missing": {"kind": "Service", "name": "week6-api"}}],
}


def drill(fault: str, via: str, rollback: str, env: str, *, name: str | None = None,
          recover: list[dict[str, Any]] | None = None, detect: list[dict[str, Any]] | None = None,
          expect: dict[str, str] | None = None, detect_timeout: str = "120s", recover_timeout: str = "300s") -> Drill:
    app = "application" in TARGETS[env]
    if recover is None:
        recover = [{"deployment-available": {}}]
        if fault == "replica-drift":
            recover.append({"replicas-equal": {}})
        if fault == "delete-resource":
            recover.append({"resource-present": {"kind": "Service", "name": "week6-api"}})
        if app:
            recover.append({"app-health": "Healthy"})
            if rollback != "argocd-rollback":
                recover.append({"app-sync": "Synced"})
    doc = {
        "apiVersion": "drills.release/v1",
        "kind": "Drill",
        "metadata": {"name": name or f"{fault}-{via}-{rollback}-{env}"},
        "spec": {
            "target": TARGETS[env],
            "fault": {"type": fault, "via": via, "params": PARAMS[fault]},
            # drift healed by Argo CD may vanish before a pod ever fails: OutOfSync is the first sign
            "detect": {"timeout": detect_timeout,
                       "any": detect or (DETECT[fault] + ([{"app-sync": "OutOfSync"}] if rollback == "self-heal" else []))},
            "rollback": {"strategy": rollback},
            "recover": {"timeout": recover_timeout, "all": recover},
            **({"expect": expect} if expect else {}),
        },
    }
    import yaml

    result = loader.load_text(yaml.safe_dump(doc, sort_keys=False), f"<{doc['metadata']['name']}>")
    assert not result.problems, [str(p) for p in result.problems]
    model: Drill = result.documents[0].model
    return model
