"""What the runner knows about Argo CD Applications: reading their spec and status, and the
bodies that ask Argo CD to refresh, sync, roll back, or stop auto-syncing.

Argo CD is driven the way ``kubectl`` users drive it (argo-cd docs/user-guide/sync-kubectl.md):
by writing to the Application object. The refresh annotation, the top-level ``operation`` field
and ``spec.syncPolicy.automated`` are the whole interface; see ../shared/reference/argocd.md.
No I/O here except through the ``ClusterApi`` port passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.targets.base import ClusterApi, ResourceRef
from runner.view import Obj

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
USERNAME = "release-drills"


@dataclass(frozen=True, slots=True)
class AppSource:
    """``spec.source`` of a single-source Helm Application from Git."""

    repo_url: str
    path: str
    target_revision: str
    value_files: tuple[str, ...]
    release_name: str | None

    @property
    def values_file(self) -> str:
        """Repository path of the values file a drill edits: the last (highest precedence) one."""
        name = self.value_files[-1] if self.value_files else "values.yaml"
        return f"{self.path.rstrip('/')}/{name}" if self.path not in ("", ".") else name


def app_ref(name: str, namespace: str = "argocd") -> ResourceRef:
    return ResourceRef("Application", namespace, name)


def source(app: Obj) -> AppSource:
    """The Application's source.

    Raises:
        ValueError: for multi-source Applications, which the runner does not drill (yet).
    """
    spec = app.get("spec") or {}
    if "sources" in spec and "source" not in spec:
        raise ValueError("multi-source Applications (spec.sources) are not supported")
    src = spec.get("source") or {}
    helm = src.get("helm") or {}
    return AppSource(
        repo_url=src.get("repoURL", ""),
        path=src.get("path", ""),
        target_revision=src.get("targetRevision", "HEAD"),
        value_files=tuple(helm.get("valueFiles") or ()),
        release_name=helm.get("releaseName"),
    )


def automated(app: Obj) -> dict[str, Any] | None:
    """``spec.syncPolicy.automated`` or None."""
    return ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")


def auto_sync_enabled(app: Obj) -> bool:
    """Same logic as Argo CD's ``IsAutomatedSyncEnabled``: present and not ``enabled: false``."""
    auto = automated(app)
    return auto is not None and auto.get("enabled", True) is not False


def self_heal_enabled(app: Obj) -> bool:
    return auto_sync_enabled(app) and bool((automated(app) or {}).get("selfHeal"))


def operation_in_progress(app: Obj) -> bool:
    phase = (((app.get("status") or {}).get("operationState")) or {}).get("phase")
    return app.get("operation") is not None or phase in ("Running", "Terminating")


def history(app: Obj) -> list[dict[str, Any]]:
    """``status.history`` oldest first."""
    return list((app.get("status") or {}).get("history") or [])


def request_refresh(api: ClusterApi, ref: ResourceRef, hard: bool = False) -> None:
    """Ask Argo CD to compare with Git now instead of at the next polling period."""
    api.merge_patch(ref, {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard" if hard else "normal"}}})


def set_automated(api: ClusterApi, ref: ResourceRef, policy: dict[str, Any] | None) -> Obj:
    """Set ``spec.syncPolicy.automated`` to ``policy``; None removes it (auto-sync off). Returns the app."""
    return api.merge_patch(ref, {"spec": {"syncPolicy": {"automated": policy}}})


def start_sync(
    api: ClusterApi, ref: ResourceRef, *, revision: str, source_override: dict[str, Any] | None, reason: str,
    resource_version: str | None = None,
) -> None:
    """Write an ``operation.sync`` (what ``argocd app sync/rollback`` create server-side)."""
    sync: dict[str, Any] = {"revision": revision, "prune": True, "syncStrategy": {"apply": {}}}
    if source_override is not None:
        sync["source"] = source_override
    body = {
        "operation": {
            "initiatedBy": {"username": USERNAME},
            "info": [{"name": "reason", "value": reason}],
            "sync": sync,
            "retry": {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}},
        }
    }
    api.merge_patch(ref, body, resource_version=resource_version)
