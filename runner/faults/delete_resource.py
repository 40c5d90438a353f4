"""Fault ``delete-resource``: someone deletes a live object (e.g. the Service).

Only through the API: Git and Helm would need a chart change. Argo CD with selfHeal recreates
the object; without it the object stays missing. The manifest is saved first so that restore
(or a person) can recreate it.
"""
from __future__ import annotations

import copy
import shlex
from typing import TYPE_CHECKING, Any

from pydantic import Field

from runner.context import DrillContext, InjectionRecord
from runner.errors import FaultInjectionError
from runner.faults.base import Fault, FaultParams
from runner.kinds import InjectVia
from runner.targets.base import ResourceRef
from runner.view import Obj, Observation

if TYPE_CHECKING:
    from runner.model import DrillSpec

DELETABLE = ("Service", "ServiceAccount", "ConfigMap", "Ingress", "Deployment", "Secret")


class DeleteResourceParams(FaultParams):
    kind: str = Field(description=f"Kind of the object to delete: one of {', '.join(DELETABLE)}.")
    name: str = Field(description="Name of the object, in the drill's namespace.")


def clean_manifest(obj: Obj) -> Obj:
    """A manifest that can be created again: no status, uid, resourceVersion or managedFields."""
    m = copy.deepcopy(obj)
    m.pop("status", None)
    md = m.setdefault("metadata", {})
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation",
              "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "selfLink"):
        md.pop(k, None)
    spec = m.get("spec") or {}
    if m.get("kind") == "Service":
        # the cluster IP is allocated again; keeping it can collide
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    return m


class DeleteResource(Fault):
    kind = "delete-resource"
    summary = "Delete a live object (Service, ConfigMap, ...) in the drill's namespace."
    Params = DeleteResourceParams
    vias = frozenset({InjectVia.API})

    def describe(self, params: DeleteResourceParams) -> str:
        return f"delete {params.kind}/{params.name}"

    def check(self, spec: DrillSpec) -> list[tuple[str, str]]:
        params: DeleteResourceParams = spec.fault.params  # type: ignore[assignment]
        if params.kind not in DELETABLE:
            return [("fault.params.kind", f"cannot delete kind {params.kind!r}; expected one of {', '.join(DELETABLE)}")]
        return []

    def extra_watch_kinds(self, params: DeleteResourceParams) -> tuple[str, ...]:
        return (params.kind,)

    def _ref(self, ctx: DrillContext) -> ResourceRef:
        p: DeleteResourceParams = ctx.drill.spec.fault.params  # type: ignore[assignment]
        return ResourceRef(p.kind, ctx.namespace, p.name)

    def capture(self, ctx: DrillContext) -> None:
        ref = self._ref(ctx)
        obj = ctx.target.api.get(ref)
        if obj is None:
            raise FaultInjectionError(f"{ref} does not exist: nothing to delete")
        assert ctx.baseline is not None
        ctx.baseline.resources[f"{ref.kind}/{ref.name}"] = clean_manifest(obj)

    def landed(self, ctx: DrillContext, obs: Observation) -> bool:
        ref = self._ref(ctx)
        return obs.type == "DELETED" and obs.kind == ref.kind and obs.obj["metadata"].get("name") == ref.name

    def inject_api(self, ctx: DrillContext, params: Any) -> InjectionRecord:
        ref = self._ref(ctx)
        ctx.target.api.delete(ref)
        manifest = f"{ref.kind.lower()}-{ref.name}.yaml"
        return InjectionRecord(
            at=ctx.target.clock.monotonic(),
            description=f"deleted {ref.kind}/{ref.name} via api",
            commands=[shlex.join(["kubectl", "-n", ref.namespace, "delete", ref.kind.lower(), ref.name])],
            undo_commands=[shlex.join(["kubectl", "-n", ref.namespace, "apply", "-f", manifest])
                           + f"   # {manifest} is saved next to this report"],
            details={"saved_manifest": manifest},
        )
