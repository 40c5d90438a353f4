"""Reading and changing Helm values files without losing comments or key order.

Used for Git injections (the change becomes a commit a reviewer can read) and by restore to
compare a values file with its pre-drill content. ruamel.yaml keeps the team's comments.
"""
from __future__ import annotations

import io
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    return y


def set_values(text: str, changes: Mapping[str, Any]) -> str:
    """Return ``text`` with each dotted key set to its value, creating maps as needed."""
    y = _yaml()
    doc = y.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    for dotted, value in changes.items():
        node = doc
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), Mapping):
                node[part] = CommentedMap()
            node = node[part]
        node[parts[-1]] = value
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def helm_set_args(changes: Mapping[str, Any]) -> dict[str, str]:
    """``--set`` arguments for the same changes (Helm parses numbers and booleans itself)."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in changes.items()}
