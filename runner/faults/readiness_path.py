"""Fault ``readiness-path``: point the readiness probe at a path the app does not serve.

Expected: new pods Running but never Ready; the kubelet emits ``Unhealthy`` Warning events
("Readiness probe failed: HTTP probe failed with statuscode: 404") every periodSeconds; the
rollout stalls; Argo CD health Progressing, then Degraded after the progress deadline.
"""
from __future__ import annotations

import json
import shlex
from typing import Any

from pydantic import Field, field_validator

from runner.context import DrillContext, InjectionRecord
from runner.faults.base import Fault, FaultParams


class ReadinessPathParams(FaultParams):
    path: str = Field(description="The readiness probe HTTP path, e.g. /healthz-wrong.")

    @field_validator("path", mode="before")
    @classmethod
    def _absolute(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.startswith("/"):
            raise ValueError(f"{v!r} must be an absolute HTTP path starting with /")
        return v


class ReadinessPath(Fault):
    kind = "readiness-path"
    summary = "Change the readiness probe path to one the app does not serve."
    Params = ReadinessPathParams
    changes_pod_template = True

    def describe(self, params: ReadinessPathParams) -> str:
        return f"readiness path -> {params.path}"

    def values_changes(self, params: ReadinessPathParams) -> dict[str, Any]:
        return {"probes.readiness.path": params.path}

    def inject_api(self, ctx: DrillContext, params: ReadinessPathParams) -> InjectionRecord:
        container = ctx.live_container()
        name = container["name"]
        old = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
        if old is None:
            raise LookupError(f"container {name} has no httpGet readiness probe to change")
        ctx.target.api.set_container(ctx.deployment_ref, name, readiness_path=params.path)

        def patch(path: str) -> str:
            body = {"spec": {"template": {"spec": {"containers": [
                {"name": name, "readinessProbe": {"httpGet": {"path": path}}}]}}}}
            return shlex.join(["kubectl", "-n", ctx.namespace, "patch", "deployment", ctx.deployment_ref.name,
                               "--type=strategic", "-p", json.dumps(body, separators=(",", ":"))])

        return InjectionRecord(
            at=ctx.target.clock.monotonic(),
            description=f"readiness path {old} -> {params.path} via api",
            commands=[patch(params.path)],
            undo_commands=[patch(old)],
            details={"container": name, "path_before": old},
        )
