"""Property tests: random mutations of valid drills never raise anything; every problem points
inside the file. (The loader reports problems; it never lets an exception reach the user.)"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from mutations import mutate_text, paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import loader

DRILLS = sorted((Path(__file__).resolve().parents[1] / "drills").glob("*.yaml"))
TEXTS = [p.read_text() for p in DRILLS]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=20), st.sampled_from(["90s", "5m", "500ms", "Synced", "Degraded", "git", "api",
                                                           "image-tag", "self-heal", "{}", "[]", "~", "&a", "*a"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def check(text: str) -> None:
    result = loader.load_text(text, "fuzz.yaml")  # must not raise
    lines = text.count("\n") + 2
    for p in result.problems:
        assert 1 <= p.line <= lines, (p, text)
        assert p.column >= 1
        assert p.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXTS), st.data())
def test_text_mutations_only_give_problems(text: str, data: st.DataObject) -> None:
    check(mutate_text(text, data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXTS), st.data())
def test_structural_mutations_only_give_problems(text: str, data: st.DataObject) -> None:
    doc = yaml.safe_load(text)
    mutated = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(paths(mutated)[1:]))
    parent: Any = mutated
    for part in path[:-1]:
        parent = parent[part]
    op = data.draw(st.sampled_from(["set", "delete", "rename"]))
    if op == "set":
        parent[path[-1]] = data.draw(values)
    elif op == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])
    check(yaml.safe_dump(mutated, sort_keys=False))
