"""Mutations of valid files, as people make them, for the loader's property tests."""
from __future__ import annotations

from typing import Any, Sequence

from hypothesis import strategies as st

BASIC = ["delete", "duplicate", "swap", "replace", "insert", "indent", "truncate"]
EXTRA = ["splice", "crlf", "bom"]


def mutate_text(text: str, data: st.DataObject, others: Sequence[str] = ()) -> str:
    """One edit of ``text``: a line deleted, duplicated, swapped, partly replaced, inserted,
    re-indented, the file truncated; with ``others``, also a line pasted from another file,
    CRLF line ends, or a byte-order mark."""
    lines = text.splitlines(keepends=True)
    op = data.draw(st.sampled_from(BASIC + (EXTRA if others else [])))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "swap":
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "replace":
        line = lines[i]
        a = data.draw(st.integers(0, len(line)))
        b = data.draw(st.integers(a, len(line)))
        lines[i] = line[:a] + data.draw(st.text(max_size=12)) + line[b:]
    elif op == "insert":
        lines.insert(i, data.draw(st.text(max_size=30)) + "\n")
    elif op == "indent":
        lines[i] = data.draw(st.sampled_from([" ", "  ", "\t", "", "      "])) + lines[i].lstrip()
    elif op == "splice":  # a line from another kind of file, pasted by mistake
        lines.insert(i, data.draw(st.sampled_from(data.draw(st.sampled_from(list(others))).splitlines(keepends=True))))
    elif op == "crlf":
        lines = [ln.replace("\n", "\r\n") for ln in lines]
    elif op == "bom":
        lines.insert(0, "\ufeff")
    else:
        lines = lines[:i]
    return "".join(lines)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a parsed document (for structural mutations)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out
