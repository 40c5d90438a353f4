"""Rollback ``rollout-undo``: ``kubectl rollout undo`` semantics, in Python.

As kubectl's DeploymentRollbacker (kubectl/pkg/polymorphichelpers/rollback.go): take the
ReplicaSet owned by the Deployment with the second-highest revision, copy its pod template
(without the pod-template-hash label) back onto the Deployment with a JSON patch that also
replaces the annotations, and let the Deployment controller reuse that ReplicaSet.
"""
from __future__ import annotations

import copy
import shlex
from typing import TYPE_CHECKING, Any

from runner import argocd
from runner.context import DrillContext, RollbackRecord
from runner.errors import RollbackError
from runner.rollbacks.base import Rollback
from runner.targets.base import ResourceRef
from runner.view import Obj

if TYPE_CHECKING:
    from runner.model import DrillSpec

REVISION = "deployment.kubernetes.io/revision"
# annotations that belong to the Deployment, not copied from the ReplicaSet (kubectl's annotationsToSkip)
_SKIP = {"kubectl.kubernetes.io/last-applied-configuration", REVISION,
         "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
         "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"}


def owned_replicasets(api: Any, dep: Obj) -> list[Obj]:
    uid = dep["metadata"].get("uid")
    rss = api.list("ReplicaSet", dep["metadata"]["namespace"])
    return [rs for rs in rss if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])]


def undo_patch(dep: Obj, rs: Obj) -> list[dict[str, Any]]:
    """The JSON patch kubectl sends for ``rollout undo`` to ``rs``."""
    template = copy.deepcopy(rs["spec"]["template"])
    (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    annotations = {k: v for k, v in (dep["metadata"].get("annotations") or {}).items() if k in _SKIP}
    annotations.update({k: v for k, v in (rs["metadata"].get("annotations") or {}).items() if k not in _SKIP})
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


class RolloutUndo(Rollback):
    strategy = "rollout-undo"
    summary = "kubectl rollout undo: the previous ReplicaSet's pod template back onto the Deployment."

    def check(self, spec: DrillSpec) -> str | None:
        from runner import faults

        if not faults.get(spec.fault.type).changes_pod_template:
            return f"rollout-undo restores a pod template, but {spec.fault.type} does not change it"
        return None

    def preflight(self, ctx: DrillContext) -> str | None:
        if ctx.app is not None and argocd.self_heal_enabled(ctx.app):
            return (f"Argo CD self-heal is on for {ctx.app_ref.name if ctx.app_ref else 'the app'}: it would revert "
                    "a rollout undo to the Git state; use git-revert, or a target without selfHeal")
        return None

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        api = ctx.target.api
        dep = api.get(ctx.deployment_ref)
        if dep is None:
            raise RollbackError(f"{ctx.deployment_ref} not found")
        if dep["spec"].get("paused"):
            raise RollbackError("cannot roll back a paused deployment; resume it first")
        rss = sorted(owned_replicasets(api, dep), key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION, "0")))
        if len(rss) < 2:
            raise RollbackError("no rollout history found (fewer than two ReplicaSets)")
        target_rs = rss[-2]
        rev = (target_rs["metadata"].get("annotations") or {}).get(REVISION)
        api.json_patch(ResourceRef("Deployment", ctx.namespace, ctx.deployment_ref.name), undo_patch(dep, target_rs))
        record.commands.append(shlex.join(["kubectl", "-n", ctx.namespace, "rollout", "undo",
                                           f"deployment/{ctx.deployment_ref.name}", f"--to-revision={rev}"]))
        record.notes.append(f"pod template of ReplicaSet {target_rs['metadata']['name']} (revision {rev}) restored")
