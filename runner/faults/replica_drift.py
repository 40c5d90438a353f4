"""Fault ``replica-drift``: someone scales the Deployment by hand (``kubectl scale``).

Through the API this is drift from Git: Argo CD marks the app OutOfSync and, with selfHeal,
scales it back. Through Git or Helm it changes ``replicaCount`` (a legitimate, if unwanted,
release).
"""
from __future__ import annotations

import shlex
from typing import Any

from pydantic import Field

from runner.context import DrillContext, InjectionRecord
from runner.faults.base import Fault, FaultParams


class ReplicaDriftParams(FaultParams):
    replicas: int = Field(ge=0, le=1000, description="The replica count to set.")


class ReplicaDrift(Fault):
    kind = "replica-drift"
    summary = "Scale the deployment to a different replica count."
    Params = ReplicaDriftParams

    def describe(self, params: ReplicaDriftParams) -> str:
        return f"replicas -> {params.replicas}"

    def values_changes(self, params: ReplicaDriftParams) -> dict[str, Any]:
        return {"replicaCount": params.replicas}

    def inject_api(self, ctx: DrillContext, params: ReplicaDriftParams) -> InjectionRecord:
        before = ctx.baseline.replicas if ctx.baseline else None
        ctx.target.api.scale(ctx.deployment_ref, params.replicas)
        ns, d = ctx.namespace, ctx.deployment_ref.name
        return InjectionRecord(
            at=ctx.target.clock.monotonic(),
            description=f"replicas {before} -> {params.replicas} via api (kubectl scale)",
            commands=[shlex.join(["kubectl", "-n", ns, "scale", f"deployment/{d}", f"--replicas={params.replicas}"])],
            undo_commands=[shlex.join(["kubectl", "-n", ns, "scale", f"deployment/{d}", f"--replicas={before}"])],
            details={"replicas_before": before},
        )
