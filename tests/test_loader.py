"""The loader: the issue's example validates; every kind of bad input gives file:line:col and a
sentence, all problems of a file at once, never another exception."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner import loader
from runner.errors import DrillDefinitionError
from runner.model import Drill

EXAMPLE = (Path(__file__).resolve().parents[1] / "drills" / "bad-image-tag.yaml").read_text()


def problems(text: str, path: str = "drills/x.yaml") -> list[str]:
    return [str(p) for p in loader.load_text(textwrap.dedent(text), path).problems]


def replace(old: str, new: str, text: str = EXAMPLE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_issue_example_validates_exactly_as_written() -> None:
    result = loader.load_text(EXAMPLE, "drills/bad-image-tag.yaml")
    assert result.problems == []
    drill: Drill = result.documents[0].model
    assert drill.metadata.name == "bad-image-tag"
    assert drill.spec.fault.type == "image-tag" and drill.spec.fault.params.tag == "does-not-exist-0000"
    assert drill.spec.detect.timeout.total_seconds() == 120
    assert [e.signal_name for e in drill.spec.detect.signals] == ["pod-waiting", "app-health"]
    assert [e.signal_name for e in drill.spec.recover.signals] == ["app-sync", "app-health", "deployment-available"]
    assert drill.spec.expect.recover_within.total_seconds() == 180


def test_every_seed_drill_and_suite_validates(root: Path) -> None:
    result = loader.load_paths([root / "drills"])
    assert result.problems == []
    names = {d.model.metadata.name for d in result.drills}
    assert {"bad-image-tag", "bad-readiness-path", "replica-drift", "deleted-service"} <= names
    strategies = {d.model.spec.rollback.strategy for d in result.drills}
    assert {"git-revert", "helm-rollback", "self-heal", "argocd-rollback", "rollout-undo"} <= strategies


def test_unknown_fault_names_file_line_column_and_choices() -> None:
    out = problems(replace("type: image-tag ", "type: imagetag "), "drills/x.yaml")
    assert out == [
        "drills/x.yaml:13:11: spec.fault.type: unknown fault 'imagetag'; expected one of image-tag, readiness-path, "
        "replica-drift, delete-resource (did you mean 'image-tag'?)"
    ]


def test_all_errors_of_a_file_at_once() -> None:
    text = replace("type: image-tag ", "type: imagetag ")
    text = replace("timeout: 120s", "timeout: 120", text)
    text = replace("strategy: git-revert", "strategy: gitrevert", text)
    text = replace("      - app-health: Degraded", "      - app-health: Degradd", text)
    out = problems(text)
    assert len(out) == 4
    assert any(":13:11: spec.fault.type: unknown fault" in p for p in out)
    assert any(":17:14: spec.detect.timeout: bad duration 120: write it with a unit, e.g. 120s" in p for p in out)
    assert any(":20:21: spec.detect.any[1].app-health: 'Degradd' is not allowed" in p for p in out)
    assert any(":22:15: spec.rollback.strategy: unknown rollback strategy 'gitrevert'" in p for p in out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "x.yaml:1:1: file is empty"),
        ("# only a comment\n", "x.yaml:1:1: file is empty"),
        ("- a\n- b\n", "x.yaml:1:1: expected a mapping with apiVersion, kind, metadata and spec; got a list"),
        ("just text\n", "x.yaml:1:1: expected a mapping with apiVersion, kind, metadata and spec; got text"),
        ("apiVersion: drills.release/v1\nkind: Dril\n", "x.yaml:2:7: kind: unknown kind 'Dril'; expected one of Drill, Suite, Targets, Responders (did you mean 'Drill'?)"),
        ("apiVersion: drills.release/v1\n", "x.yaml:1:1: kind: required key 'kind' is missing"),
        ("apiVersion: drills/v2\nkind: Drill\n", "x.yaml:1:13: apiVersion: expected apiVersion 'drills.release/v1', got 'drills/v2'"),
        ("kind: Drill\nmetadata:\n\tname: x\n", "x.yaml:3:1: tab character in indentation; YAML indents with spaces only"),
        ("kind: Drill\nmetadata: {name: [\n", "x.yaml:3:1: not valid YAML"),
        ("kind: Drill\nkind: Drill\n", "x.yaml:2:1: kind: duplicate key 'kind' (first defined on line 1)"),
    ],
)
def test_malformed_files(text: str, expected: str) -> None:
    out = problems(text, "x.yaml")
    assert any(p.startswith(expected) for p in out), out


def test_duplicate_key_inside_spec() -> None:
    text = replace("    namespace: dev\n", "    namespace: dev\n    namespace: stage\n")
    assert any(":11:5: spec.target.namespace: duplicate key 'namespace' (first defined on line 10)" in p for p in problems(text))


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    text = replace("  rollback:\n    strategy: git-revert", "  rollback:\n    strategy: git-revert\n    tmeout: 5s")
    out = problems(text)
    assert any(":23:5: spec.rollback.tmeout: unknown key 'tmeout' (did you mean 'timeout'?)" in p for p in out), out


def test_missing_required_key() -> None:
    text = replace("    deployment: week6-api\n", "")
    out = problems(text)
    assert any("spec.target.deployment: required key 'deployment' is missing" in p for p in out), out


def test_unknown_signal() -> None:
    out = problems(replace("- app-health: Degraded", "- app-helth: Degraded"))
    assert any(":20:9: spec.detect.any[1]: unknown signal 'app-helth'" in p and "did you mean 'app-health'" in p for p in out), out


def test_signal_item_must_be_one_key_mapping() -> None:
    out = problems(replace("      - app-health: Degraded", "      - app-health: Degraded\n        app-sync: Synced"))
    assert any("spec.detect.any[1]: expected one signal as a one-key mapping" in p for p in out), out


def test_bad_durations() -> None:
    for bad, msg in (("5 minutes", "bad duration '5 minutes'"), ("-5s", "bad duration '-5s'"), ("[1]", "expected a duration")):
        out = problems(replace("timeout: 300s", f"timeout: {bad}"))
        assert any(":24:14: spec.recover.timeout: " in p and msg in p for p in out), out


def test_helm_rollback_cannot_undo_a_git_fault_on_an_argo_app() -> None:
    out = problems(replace("strategy: git-revert", "strategy: helm-rollback"))
    assert any(":22:15: spec.rollback.strategy: helm-rollback cannot undo a fault on an Argo CD application" in p for p in out), out


def test_self_heal_cannot_undo_a_git_commit() -> None:
    out = problems(replace("strategy: git-revert", "strategy: self-heal"))
    assert any("spec.rollback.strategy: self-heal only reverts drift made through the API" in p for p in out), out


def test_via_helm_refused_on_argo_application() -> None:
    out = problems(replace("via: git ", "via: helm "))
    assert any(":14:10: spec.fault.via: via: helm on an Argo CD application would be reverted" in p for p in out), out


def test_delete_resource_only_via_api() -> None:
    text = replace("type: image-tag                # image-tag | readiness-path | replica-drift | delete-resource",
                   "type: delete-resource")
    text = replace('params: {tag: "does-not-exist-0000"}', "params: {kind: Service, name: week6-api}", text)
    text = replace("strategy: git-revert", "strategy: none", text)
    out = problems(text)
    assert any("spec.fault.via: fault delete-resource can only be injected via api" in p for p in out), out


def test_fault_params_are_checked_per_fault() -> None:
    out = problems(replace('params: {tag: "does-not-exist-0000"}', "params: {tag: 'bad tag!'}"))
    assert any(":15:19: spec.fault.params.tag: 'bad tag!' is not a valid image tag" in p for p in out), out
    out = problems(replace('params: {tag: "does-not-exist-0000"}', "params: {path: /x}"))
    assert any("spec.fault.params.path: unknown key 'path'" in p for p in out), out
    assert any("spec.fault.params.tag: required key 'tag' is missing" in p for p in out), out


def test_expectation_longer_than_timeout() -> None:
    out = problems(replace("detect-within: 60s", "detect-within: 200s"))
    assert any(":30:20: spec.expect.detect-within: detect-within 200s is longer than detect.timeout 120s" in p for p in out), out


def test_app_signals_need_an_application() -> None:
    text = replace("application: week6-api-dev     # Argo CD Application (namespace argocd)", "release: week6-api")
    text = replace("via: git ", "via: helm ", text)
    text = replace("strategy: git-revert", "strategy: helm-rollback", text)
    out = problems(text)
    assert any("spec.detect.any[1]: app-health needs an Argo CD application" in p for p in out), out
    assert any("spec.recover.all[0]: app-sync needs an Argo CD application" in p for p in out), out


def test_alias_bomb_is_bounded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    out = problems(bomb)
    assert any("document too large" in p for p in out), out


def test_object_construction_tags_are_refused() -> None:
    out = problems("kind: !!python/object/apply:os.system ['echo hi']\n")
    assert out and "x.yaml:1:7: kind: not valid YAML here: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed" in out[0], out


def test_file_level_problems(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: b\n" * (loader.MAX_BYTES // 4))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"kind: Drill\nname: caf\xe9\n")
    result = loader.load_paths([big, latin, tmp_path / "missing.yaml"])
    text = "\n".join(map(str, result.problems))
    assert "big.yaml:1:1: file is" in text and "limited to" in text
    assert "latin.yaml:2:1: not UTF-8 text" in text
    assert "missing.yaml:1:1: no such file or folder" in text


def test_duplicate_drill_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(EXAMPLE)
    (tmp_path / "b.yaml").write_text(EXAMPLE)
    out = [str(p) for p in loader.load_paths([tmp_path]).problems]
    assert len(out) == 1 and "b.yaml:1:1: metadata.name: drill 'bad-image-tag' is also defined at" in out[0]


def test_raise_if_problems_raises_definition_error() -> None:
    result = loader.load_text("kind: Nope\n", "n.yaml")
    with pytest.raises(DrillDefinitionError) as info:
        result.raise_if_problems()
    assert info.value.exit_code == 2 and info.value.problems[0].line == 1


def test_suite_paths_must_exist(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        apiVersion: drills.release/v1
        kind: Suite
        metadata: {name: s}
        spec:
          drills:
            - missing.yaml
        """))
    out = [str(p) for p in loader.load_paths([tmp_path / "s.yaml"]).problems]
    assert out == [f"{tmp_path / 's.yaml'}:6:7: spec.drills[0]: 'missing.yaml' not found (relative to {tmp_path})"]


def test_folder_runs_drills_and_suite_file_runs_its_order(root: Path) -> None:
    docs, result = loader.drills_to_run([root / "drills"])
    assert result.problems == []
    assert all(d.kind == "Drill" for d in docs) and len(docs) == len({d.model.metadata.name for d in docs})
    suite_docs, _ = loader.drills_to_run([root / "drills" / "suites" / "game-day.yaml"])
    assert [d.model.metadata.name for d in suite_docs][:4] == ["bad-image-tag", "bad-readiness-path", "replica-drift", "deleted-service"]


def test_a_drill_round_trips_through_its_json_dump() -> None:
    """The crash journal stores drills as JSON and `drills recover` loads them back."""
    from runner.model import Drill

    for doc in loader.load_paths([Path(__file__).resolve().parents[1] / "drills"]).drills:
        dumped = doc.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert Drill.model_validate(dumped) == doc.model
