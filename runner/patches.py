"""Patch semantics applied locally: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Used by the simulated API server and by --dry-run to show what a patch would change. Pure.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

from runner.errors import TargetError
from runner.view import Obj


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(doc: Obj, ops: Sequence[Obj]) -> Obj:
    """RFC 6902 add/replace/remove (what the runner sends)."""
    out = copy.deepcopy(doc)
    for op in ops:
        parts = _pointer(op["path"])
        node: Any = out
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(node, list):
                node.insert(int(last), copy.deepcopy(op["value"])) if op["op"] == "add" else node.__setitem__(int(last), copy.deepcopy(op["value"]))
            else:
                node[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        else:
            raise TargetError(f"unsupported JSON patch op {op['op']!r}")
    return out
