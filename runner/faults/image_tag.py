"""Fault ``image-tag``: ship an image tag that does not exist (or any tag you name).

Expected on a real cluster: new pods wait with ErrImagePull, then ImagePullBackOff (kubelet
back-off doubling from 10 s to 5 min); the old ReplicaSet keeps serving (maxUnavailable rounds
down to 0 for small replica counts); Argo CD health stays Progressing until
progressDeadlineSeconds, then Degraded.
"""
from __future__ import annotations

import re
import shlex
from typing import Any

from pydantic import Field, field_validator

from runner.context import DrillContext, InjectionRecord
from runner.faults.base import Fault, FaultParams, image_with_tag

# OCI tag grammar (distribution/reference): [\w][\w.-]{0,127}
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ImageTagParams(FaultParams):
    tag: str = Field(description="The image tag to deploy, e.g. does-not-exist-0000.")

    @field_validator("tag", mode="before")
    @classmethod
    def _valid_tag(cls, v: Any) -> Any:
        if isinstance(v, str) and not _TAG.match(v):
            raise ValueError(f"{v!r} is not a valid image tag (letters, digits, _ . -, at most 128)")
        return v


class ImageTag(Fault):
    kind = "image-tag"
    summary = "Deploy an image tag (by default one that does not exist)."
    Params = ImageTagParams
    changes_pod_template = True

    def describe(self, params: ImageTagParams) -> str:
        return f"image tag -> {params.tag}"

    def values_changes(self, params: ImageTagParams) -> dict[str, Any]:
        return {"image.tag": params.tag}

    def inject_api(self, ctx: DrillContext, params: ImageTagParams) -> InjectionRecord:
        container = ctx.live_container()
        name, old = container["name"], container["image"]
        new = image_with_tag(old, params.tag)
        ctx.target.api.set_container(ctx.deployment_ref, name, image=new)
        ns, d = ctx.namespace, ctx.deployment_ref.name
        return InjectionRecord(
            at=ctx.target.clock.monotonic(),
            description=f"image {old} -> {new} via api",
            commands=[shlex.join(["kubectl", "-n", ns, "set", "image", f"deployment/{d}", f"{name}={new}"])],
            undo_commands=[shlex.join(["kubectl", "-n", ns, "set", "image", f"deployment/{d}", f"{name}={old}"])],
            details={"container": name, "image_before": old, "image_after": new},
        )
