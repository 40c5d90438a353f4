"""The drills command, as a user runs it: exit codes 0, 1, 2 and 3, file:line on bad input,
reports written, JSON on stdout. Subprocesses, so the console script itself is tested."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import sys
import textwrap
from pathlib import Path

import pytest

from runner import cli, model

from drillgen import ROOT

DRILLS = sys.executable, "-m", "runner.cli"


HISTORY = Path(tempfile.mkdtemp(prefix="drills-cli-")) / "history.sqlite"


def drills(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRILLS_HISTORY": str(HISTORY)}  # never write the repository's reports/
    return subprocess.run([*DRILLS, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(textwrap.dedent(text))
    return p


DRILL = """\
    apiVersion: drills.release/v1
    kind: Drill
    metadata: {{name: {name}}}
    spec:
      target: {{application: week6-api-dev, namespace: dev, deployment: week6-api}}
      fault: {{type: image-tag, via: git, params: {{tag: nope-1}}}}
      detect: {{timeout: 60s, any: [{{pod-waiting: {{}}}}]}}
      rollback: {{strategy: {strategy}}}
      recover: {{timeout: 30s, all: [{{deployment-available: {{}}}}]}}
      expect: {{detect-within: {within}}}
    """


def test_run_all_seed_drills_passes_and_writes_reports(tmp_path: Path) -> None:
    r = drills("run", "drills/", "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Drill summary (simulated target)" in r.stdout
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1
    files = {p.name for p in runs[0].iterdir()}
    assert {"index.md", "results.json", "junit.xml", "bad-image-tag.md", "deleted-service.md"} <= files
    results = json.loads((runs[0] / "results.json").read_text())
    assert results["summary"]["total"] == results["summary"]["passed"] >= 6


def test_missed_expectation_exits_1(tmp_path: Path) -> None:
    f = write(tmp_path, "slow.yaml", DRILL.format(name="slow", strategy="git-revert", within="1s"))
    r = drills("run", str(f), "--no-report")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "failed" in r.stdout


def test_bad_file_exits_2_naming_file_line(tmp_path: Path) -> None:
    f = write(tmp_path, "x.yaml", DRILL.format(name="x", strategy="gitrevert", within="60s"))
    for cmd in ("validate", "run"):
        r = drills(cmd, str(f))
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{f}:8:24: spec.rollback.strategy: unknown rollback strategy 'gitrevert'" in r.stderr
        assert "Traceback" not in r.stderr + r.stdout


def test_usage_errors_exit_2() -> None:
    for args in (("run",), ("frobnicate",), ("run", "drills/", "--target", "mars"), ("run", "no/such/dir"),
                 ("run", "drills/", "--restore-timeout", "soon")):
        r = drills(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr


def test_target_left_broken_exits_3_with_commands(tmp_path: Path) -> None:
    f = write(tmp_path, "broken.yaml", DRILL.format(name="broken", strategy="none", within="60s"))
    r = drills("run", str(f), "--no-report", "--restore-timeout", "500ms")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "left the target needing manual repair" in r.stdout
    assert "argocd app sync week6-api-dev" in r.stdout


def test_json_on_stdout(tmp_path: Path) -> None:
    r = drills("run", "drills/replica-drift.yaml", "--json", "--no-report")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["drills"][0]["name"] == "replica-drift" and data["target"]["simulated"] is True
    assert "Drill summary" in r.stderr


def test_validate_ok_and_list() -> None:
    r = drills("validate", "drills/")
    assert r.returncode == 0 and "6 drill(s), 2 suite(s)" in r.stdout
    r = drills("list")
    assert r.returncode == 0 and "bad-readiness-path" in r.stdout


def test_published_schema_is_current() -> None:
    committed = json.loads((ROOT / "drills" / "drill.schema.json").read_text())
    assert committed == model.drill_json_schema(), "run: drills schema --output drills/drill.schema.json"


def test_main_in_process_returns_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(ROOT / "drills")]) == 0
    capsys.readouterr()
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "release-drills Drill"
    assert cli.main(["validate", str(ROOT / "no-such")]) == 2


def test_sim_config_errors_have_lines(tmp_path: Path) -> None:
    cfg = write(tmp_path, "sim.yaml", """\
        seed: 3
        kubelet:
          backoff_initial: ten
        """)
    r = drills("run", "drills/replica-drift.yaml", "--sim-config", str(cfg), "--no-report")
    assert r.returncode == 2
    assert f"{cfg}:3:20: kubelet.backoff_initial:" in r.stderr
