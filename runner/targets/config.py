"""Target configuration files (``kind: Targets``, e.g. ``drills/targets.yaml``).

Issue-sized placeholder: the file is recognised and its shape validated so that ``drills run
drills/`` does not treat it as a drill; the kube target (a later issue) gives it meaning.
"""
from __future__ import annotations

from typing import Any, Callable

from runner.errors import Problem


def validate(data: dict[str, Any], path: str, at: Callable[..., tuple[int, int]]) -> tuple[dict[str, Any] | None, list[Problem]]:
    spec = data.get("spec")
    if not isinstance(spec, dict):
        line, col = at(("spec",))
        return None, [Problem(path, line, col, "spec", "expected a mapping of target names")]
    return data, []
