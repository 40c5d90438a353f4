"""Reports: golden retrospectives (en, zh) from a fixed run, results.json against its schema,
JUnit XML that CI can read. Regenerate goldens with UPDATE_GOLDEN=1 after a deliberate change."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from runner import loader
from runner.clock import VirtualClock
from runner.engine import DrillRun, Engine
from runner.render import junit, markdown, writer
from runner.results import run_json
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget

from drillgen import EPOCH, ROOT, drill

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = json.loads((ROOT / "runner" / "schemas" / "results.schema.json").read_text())


def fixed_runs() -> list[DrillRun]:
    sim = SimTarget(SimConfig(seed=7, platform_config=ROOT / "kind" / "platform-config"), VirtualClock(start=EPOCH))
    docs, _ = loader.drills_to_run([ROOT / "drills" / "bad-image-tag.yaml"])
    engine = Engine(sim, run_ids=lambda name: f"{name}-golden")
    return [engine.run(docs[0].model, "drills/bad-image-tag.yaml:1"),
            engine.run(drill("image-tag", "git", "none", "dev", name="left-broken", recover_timeout="60s"), "x.yaml:1")]


@pytest.fixture(scope="module")
def results() -> dict:  # type: ignore[type-arg]
    runs = fixed_runs()
    return run_json(runs, EPOCH, EPOCH, {"name": "sim", "kind": "sim", "simulated": True})


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_retrospective_golden(results: dict, lang: str) -> None:  # type: ignore[type-arg]
    text = markdown.retrospective(results["drills"][0], markdown.environment(lang))
    golden = GOLDEN / f"bad-image-tag.{lang}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_retrospective_has_what_a_review_needs(results: dict) -> None:  # type: ignore[type-arg]
    text = markdown.retrospective(results["drills"][0], markdown.environment("en"))
    for needle in ("Simulated target", "Verdict: ✅ PASSED", "Change point", "Risk", "Rollback point",
                   "Verification result", "```mermaid", "gantt", "git revert --no-edit", "git push origin main",
                   "1. **Argo CD application.**", "2. **Render errors.**", "3. **Pod events.**", "4. **Service endpoints.**",
                   "Argo CD health lagged the failure"):
        assert needle in text, needle
    zh = markdown.retrospective(results["drills"][0], markdown.environment("zh"))
    for needle in ("演练复盘", "变更点", "风险", "回滚点", "验证结果", "检测时的排查快照"):
        assert needle in zh, needle


def test_results_json_matches_schema(results: dict) -> None:  # type: ignore[type-arg]
    jsonschema.validate(results, SCHEMA)
    d = results["drills"][0]
    assert d["outcome"] == "passed" and d["ttd_seconds"] > 0 and d["ttr_seconds"] > d["ttd_seconds"]
    assert d["rollback"]["commands"][0].startswith("git revert --no-edit ")
    assert [e["status"] for e in d["expectations"]] == ["met", "met"]
    assert d["timeline"][0]["kind"] == "PreflightPassed"
    broken = results["drills"][1]
    assert broken["outcome"] == "not-recovered" and broken["restore"]["status"] == "repaired"


def test_schema_rejects_what_it_should(results: dict) -> None:  # type: ignore[type-arg]
    bad = json.loads(json.dumps(results))
    bad["drills"][0]["outcome"] = "sort-of"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_junit_xml(results: dict) -> None:  # type: ignore[type-arg]
    root = ET.fromstring(junit.junit_xml(results["drills"]))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert cases[0].find("failure") is None and cases[1].find("failure") is not None


def test_writer_writes_every_file_and_safe_names(tmp_path: Path) -> None:
    runs = fixed_runs()
    results = run_json(runs, EPOCH, datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc), {"name": "sim", "kind": "sim", "simulated": True})
    files = writer.write(tmp_path / "run", results, runs, "en")
    names = sorted(p.name for p in files)
    assert names == ["bad-image-tag.md", "index.md", "junit.xml", "left-broken.md", "results.json"]
    assert "[bad-image-tag.md](bad-image-tag.md)" in (tmp_path / "run" / "index.md").read_text()
    assert writer.safe_name("../../etc/passwd") == "etc-passwd"
    assert writer.safe_name("..") == "drill"


def test_template_dir_overrides(tmp_path: Path, results: dict) -> None:  # type: ignore[type-arg]
    (tmp_path / "retrospective.md.j2").write_text("custom {{ d.name }} {{ d.outcome }}\n")
    env = markdown.environment("en", tmp_path)
    assert markdown.retrospective(results["drills"][0], env) == "custom bad-image-tag passed\n"
