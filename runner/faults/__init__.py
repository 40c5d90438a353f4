"""Fault registry: fault kind -> implementation. Adding a fault is one module plus one line here."""
from __future__ import annotations

from runner.faults import delete_resource, image_tag, readiness_path, replica_drift
from runner.faults.base import Fault

REGISTRY: dict[str, Fault] = {
    f.kind: f
    for f in (
        image_tag.ImageTag(),
        readiness_path.ReadinessPath(),
        replica_drift.ReplicaDrift(),
        delete_resource.DeleteResource(),
    )
}


def get(kind: str) -> Fault:
    return REGISTRY[kind]


__all__ = ["REGISTRY", "Fault", "get"]
