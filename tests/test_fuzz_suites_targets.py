"""Property tests for suite and target files: mutations of valid files only ever give problems.

The drill-file fuzz (tests/test_loader_fuzz.py) covers ``kind: Drill``; this covers the other two
kinds the loader reads: the seed suites (drills/suites/*.yaml, loaded from their own path so that
their relative drill paths resolve) and a valid targets file written here. Whatever the mutation
(text edits, structural edits, splices of lines from another kind of file), ``load_text`` must
return problems, never raise, and every problem must point inside the text.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from mutations import mutate_text, paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import loader

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "drills" / "suites").glob("*.yaml"))
DRILL_TEXT = (ROOT / "drills" / "bad-image-tag.yaml").read_text()

TARGETS = """\
apiVersion: drills.release/v1
kind: Targets
metadata:
  name: fuzz-targets
spec:
  default: kind-local
  targets:
    kind-local:
      description: kind cluster on a laptop
      context: kind-release-drills
      kubeconfig: ~/.kube/config
      namespaces: [dev, stage, sandbox]
      argocd-namespace: argocd
      lock-namespace: release-drills
      production-like: false
      gitops:
        url: https://git.example.com/platform/platform-config.git
        branch: main
        username-env: GITOPS_USER
        password-env: GITOPS_TOKEN
        serves: [https://git.example.com/platform/platform-config.git]
      helm:
        binary: helm
        charts: {sandbox/week6-api: charts/week6-api}
    in-cluster:
      in-cluster: true
      namespaces: [prod]
      production-like: true
"""
TARGETS_PATH = str(ROOT / "drills" / "fuzz-targets.yaml")  # not written: only names the text's location

# (text, the path it is loaded as)
FILES = [(p.read_text(), str(p)) for p in SUITES] + [(TARGETS, TARGETS_PATH)]
FILES += [(p.read_text(), str(p)) for p in [ROOT / "drills" / "targets.yaml"] if p.exists()]  # the shipped one

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from([
        # suite words, good and bad
        "0 2 * * *", "61 * * * *", "0 0 2 * * *", "@daily", "* * * * * *", "Europe/Berlin", "Mars/Olympus", "PST",
        "../../etc/passwd", "", "UTC", "00:00", "25:00", "6am", "mon", "monday", "continue", "stop", "abort",
        "5m", "30s", "-5m", "1e9h", "90", "../bad-image-tag.yaml", "../missing.yaml", "/etc/passwd", ".", "..",
        # targets words, good and bad
        "kind-local", "production", "https://user:token@host/x.git", "https://token@host/x.git", "git@host:org/x.git",
        "file:///tmp/x.git", "./relative/repo", "~", "GITOPS_TOKEN", "helm", "charts/week6-api",
        # YAML look-alikes inside strings
        "{}", "[]", "&a", "*a", "!!python/object/apply:os.system", "yes", "no", "on", "0x1F", "1_000", "12:30:00",
    ]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def check(text: str, path: str) -> None:
    result = loader.load_text(text, path)  # must not raise
    # str.splitlines() knows every line break YAML knows (and more): no problem may point past it
    lines = len(text.splitlines()) + 1
    for p in result.problems:
        assert 1 <= p.line <= lines, (str(p), text)
        assert p.column >= 1, str(p)
        assert p.message.strip(), str(p)
        assert p.path == path


def test_the_unmutated_files_are_valid() -> None:
    for text, path in FILES:
        result = loader.load_text(text, path)
        assert result.problems == [], [str(p) for p in result.problems]
        assert {d.kind for d in result.documents} <= {"Suite", "Targets"} and result.documents


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FILES), st.data())
def test_text_mutations_only_give_problems(file: tuple[str, str], data: st.DataObject) -> None:
    text, path = file
    check(mutate_text(text, data, others=[t for t, _ in FILES] + [DRILL_TEXT]), path)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FILES), st.data())
def test_structural_mutations_only_give_problems(file: tuple[str, str], data: st.DataObject) -> None:
    text, path = file
    mutated = copy.deepcopy(yaml.safe_load(text))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths(mutated)[1:]))
        parent: Any = mutated
        for part in where[:-1]:
            parent = parent[part]
        op = data.draw(st.sampled_from(["set", "delete", "rename", "wrap"]))
        if op == "set":
            parent[where[-1]] = data.draw(values)
        elif op == "delete":
            del parent[where[-1]]
        elif op == "wrap":
            parent[where[-1]] = data.draw(st.sampled_from([[parent[where[-1]]], {"value": parent[where[-1]]}]))
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=10))] = parent.pop(where[-1])
        if not isinstance(mutated, dict) or not paths(mutated)[1:]:
            break
    dumped = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=data.draw(st.booleans()))
    check(dumped, path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FILES + [(DRILL_TEXT, TARGETS_PATH)]), min_size=2, max_size=4), st.data())
def test_several_documents_with_one_mutated(files: list[tuple[str, str]], data: st.DataObject) -> None:
    """A multi-document file where one document is cut short: problems only, pointing inside."""
    docs = [t for t, _ in files]
    k = data.draw(st.integers(0, len(docs) - 1))
    cut = docs[k].splitlines(keepends=True)
    docs[k] = "".join(cut[: data.draw(st.integers(0, len(cut)))])
    check("---\n".join(docs), files[0][1])
