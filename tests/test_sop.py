"""Rollback SOPs from the run history: the fastest *verified* strategy and its exact commands, the
first signal, the environment policy from the application name, a plain statement when nothing
passed, the SOP steps as headings (en, zh), and the ``sop`` command. One test drills the
simulated cluster for real and checks that the SOP carries the commands those runs recorded."""
from __future__ import annotations

import argparse
import io
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from rich.console import Console

from runner import reporting_cli, sop, trends
from runner.clock import VirtualClock
from runner.engine import Engine
from runner.errors import UsageError
from runner.history import History, HistoryRow
from runner.results import run_json
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget

from drillgen import EPOCH, ROOT, drill
from test_history_trends import fake_drill

APP = "week6-api-stage"
NOW = EPOCH + timedelta(days=30)
HOUR = timedelta(hours=1)


def _argocd(n: int) -> list[str]:
    return [f"argocd app set {APP} --sync-policy none", f"argocd app rollback {APP} {n}"]


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "history.sqlite")
    t = EPOCH

    def rec(**kw: Any) -> None:
        nonlocal t
        t += HOUR
        kw.setdefault("app", APP)
        kw.setdefault("namespace", "stage")
        h.record(fake_drill(injected_at=t, **kw), run_started_at=t, target="sim")

    waiting = "pod-waiting(reasons=ErrImagePull,ImagePullBackOff)"
    # image-tag via git: git-revert always works (~9 s), argocd-rollback works faster (~4.6 s) but
    # failed its last run (400 s, over the 180 s limit), self-heal never recovered (stage has no selfHeal)
    for ttr in (8.0, 9.0, 10.0):
        rec(name="tag-revert", strategy="git-revert", ttr=ttr, detected_by=waiting)
    rec(name="tag-argocd", strategy="argocd-rollback", ttr=4.5, commands=_argocd(1), detected_by=waiting)
    rec(name="tag-argocd", strategy="argocd-rollback", ttr=4.7, commands=_argocd(2), detected_by="app-health: Degraded")
    rec(name="tag-argocd", strategy="argocd-rollback", ttr=400.0, outcome="failed", commands=_argocd(3),
        detected_by=waiting)
    for _ in range(2):
        rec(name="tag-self-heal", strategy="self-heal", ttr=None, outcome="not-recovered", commands=[],
            detected_by="app-health: Degraded")
    # readiness-path via git: never passed
    for _ in range(2):
        rec(name="probe", fault_type="readiness-path", strategy="git-revert", ttr=None, outcome="not-recovered",
            detected_by="event(reason=Unhealthy, message=Readiness probe failed)")
    rec(name="probe", fault_type="readiness-path", strategy="git-revert", ttd=None, ttr=None, outcome="not-detected")
    # another application's much faster rollback must not leak into this SOP
    rec(name="dev-undo", app="week6-api-dev", namespace="dev", strategy="rollout-undo", ttr=0.5,
        commands=["kubectl -n dev rollout undo deployment/week6-api"])
    yield h
    h.close()


@pytest.fixture
def rows(history: History) -> list[HistoryRow]:
    return history.query()


def test_fastest_verified_strategy_wins_with_its_latest_passing_commands(rows: list[HistoryRow]) -> None:
    tag, probe = sop.failure_modes(APP, rows)
    assert (tag.fault_type, tag.via, tag.runs, tag.passed) == ("image-tag", "git", 8, 5)
    assert [s.strategy for s in tag.strategies] == ["argocd-rollback", "git-revert", "self-heal"]
    best = tag.best
    assert best is not None and best.strategy == "argocd-rollback"
    # p50/p95 over the passed runs only: the failed 400 s run is not a verified time
    assert (best.runs, best.passed, best.ttr_runs) == (3, 2, 2)
    assert best.ttr_p50 == pytest.approx(4.6) and best.ttr_p95 == pytest.approx(trends.percentile([4.5, 4.7], 95))
    assert best.commands == _argocd(2)  # the latest *passing* run, not the later failed one
    git = tag.strategies[1]
    assert (git.ttr_p50, git.passed) == (9.0, 3)
    assert not tag.strategies[2].verified and tag.strategies[2].commands == []
    assert tag.detection is not None
    assert (tag.detection.signal, tag.detection.count, tag.detection.detected_runs) == ("pod-waiting", 5, 8)
    assert tag.detection.example == "pod-waiting(reasons=ErrImagePull,ImagePullBackOff)"
    assert tag.ttd_p50 == pytest.approx(2.942) and tag.ttd_runs == 8
    assert (probe.fault_type, probe.best, probe.outcomes) == ("readiness-path", None, {"not-detected": 1,
                                                                                      "not-recovered": 2})


def test_sop_markdown_says_what_to_do_and_what_was_never_verified(rows: list[HistoryRow]) -> None:
    text = sop.sop_markdown(APP, rows, now=NOW)
    assert text.startswith(f"# Rollback SOP: {APP}\n")
    assert "from 11 drill run(s)" in text and "week6-api-dev" not in text and "rollout undo" not in text
    assert "**stage**: Argo CD syncs automatically, but rollbacks are confirmed by a person" in text
    tag = text.split("## 1. image-tag via git", 1)[1].split("## 2. readiness-path via git", 1)[0]
    assert "It showed itself first as **`pod-waiting`** in 5 of 8 detected run(s)" in tag
    assert "Typical time to detect: p50 2.942 s" in tag
    assert "Use **argocd-rollback**: the fastest rollback that verifiably worked, TTR p50 4.600 s, p95 4.690 s " \
           "over 2 passing run(s) (2 of 3 run(s) with it passed)." in tag
    assert f"```sh\nargocd app set {APP} --sync-policy none\nargocd app rollback {APP} 2\n```" in tag
    assert f"rollback {APP} 3" not in tag and f"rollback {APP} 1" not in tag
    assert "| argocd-rollback (fastest verified) | 3 | 2 | 4.600 s | 4.690 s |" in tag
    assert "| git-revert | 3 | 3 | 9.000 s | 9.900 s |" in tag
    assert "| self-heal | 2 | 0 | — | — |" in tag
    assert "Policy (stage): have a person confirm before you run it." in tag
    probe = text.split("## 2. readiness-path via git", 1)[1]
    assert "**No passing run for this failure mode: no rollback has been verified.**" in probe
    assert "not-detected × 1, not-recovered × 2" in probe
    assert "No verified commands" in probe and "```sh\ngit revert" not in probe
    assert "| readiness-path via git | 3 | 0 | `event` |" in text and "**none passed**" in text
    # the seed lesson's SOP steps, in order, for every failure mode
    steps = ["### Step 1. Locate the failure", "### Step 2. Choose the rollback", "### Step 3. Execute",
             "### Step 4. Verify health", "### Step 5. Write the retrospective"]
    for section in (tag, probe):
        positions = [section.index(s) for s in steps]
        assert positions == sorted(positions)
    assert "- `app-sync: Synced`" in tag and "kubectl -n stage rollout status deployment/week6-api" in tag


@pytest.mark.parametrize("app, env, policy", [
    ("week6-api-dev", sop.Environment.DEV, "**dev**: Argo CD syncs automatically and self-heals drift"),
    ("week6-api-stage", sop.Environment.STAGE, "**stage**: Argo CD syncs automatically, but rollbacks are confirmed"),
    ("week6-api-prod", sop.Environment.PROD, "**prod**: manual sync with approval"),
    ("week6-api", sop.Environment.UNKNOWN, "**Unknown environment**: `week6-api` ends in none of"),
    ("week6-api-production", sop.Environment.UNKNOWN, "**Unknown environment**"),
])
def test_environment_policy_from_the_name(app: str, env: sop.Environment, policy: str) -> None:
    assert sop.environment_of(app) is env
    assert policy in sop.sop_markdown(app, [], now=NOW)


def test_no_runs_at_all_is_said_plainly() -> None:
    text = sop.sop_markdown("week6-api-prod", [], now=NOW)
    assert "No drill has run against `week6-api-prod` yet" in text and "### Step" not in text


def test_plain_helm_release_by_release_name(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        h.record(fake_drill("probe", app=None, release="week6-api", namespace="sandbox", fault_type="readiness-path",
                            via="helm", strategy="helm-rollback",
                            commands=["helm history week6-api -n sandbox", "helm rollback week6-api 1 -n sandbox"]),
                 run_started_at=EPOCH, target="sim")
        rows = h.query(application="week6-api")
    text = sop.sop_markdown("week6-api", rows, now=NOW)
    assert "Unknown environment" in text and "helm rollback week6-api 1 -n sandbox" in text
    assert "argocd app get" not in text  # no Argo CD Application behind a plain release


def test_sop_in_chinese(rows: list[HistoryRow]) -> None:
    zh = sop.sop_markdown(APP, rows, now=NOW, lang="zh")
    for needle in (f"# 回滚 SOP：{APP}", "## 环境策略", "回滚需由人确认", "### 第一步：定位故障", "### 第二步：选择回滚方式",
                   "### 第三步：执行回滚", "### 第四步：验证健康状态", "### 第五步：撰写复盘",
                   "**此故障模式没有任何通过的运行：尚无经过验证的回滚方式。**", f"argocd app rollback {APP} 2"):
        assert needle in zh, needle


def _console() -> Console:
    return Console(file=io.StringIO(), width=200, highlight=False)


def test_sop_command_writes_the_default_file(history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = _console()
    args = argparse.Namespace(app=APP, history=history.path, output=None, lang="en")
    assert reporting_cli.cmd_sop(args, out, _console(), clock=VirtualClock(start=NOW)) == 0
    written = tmp_path / "reports" / f"sop-{APP}.md"
    assert written.read_text(encoding="utf-8") == sop.sop_markdown(APP, history.query(application=APP), now=NOW)
    assert isinstance(out.file, io.StringIO)
    assert "2 failure mode(s) from 11 run(s); no verified rollback for: readiness-path via git" in out.file.getvalue()
    with pytest.raises(UsageError, match="runs exist for: week6-api-dev, week6-api-stage"):
        reporting_cli.cmd_sop(argparse.Namespace(app="week6-api-prod", history=history.path, output=None, lang="en"),
                              _console(), _console(), clock=VirtualClock(start=NOW))


def test_sop_from_real_drills_on_the_simulated_cluster(tmp_path: Path) -> None:
    sim = SimTarget(SimConfig(seed=7, platform_config=ROOT / "kind" / "platform-config"), VirtualClock(start=EPOCH))
    engine = Engine(sim, run_ids=lambda name: f"{name}-sop")
    runs = [engine.run(drill("image-tag", "git", strategy, "stage", name=f"tag-{strategy}"), "x.yaml:1")
            for strategy in ("git-revert", "argocd-rollback")]
    runs.append(engine.run(drill("image-tag", "api", "rollout-undo", "stage", name="tag-undo"), "x.yaml:1"))
    results = run_json(runs, EPOCH, EPOCH + timedelta(minutes=10), {"name": "sim", "kind": "sim", "simulated": True})
    assert [d["outcome"] for d in results["drills"]] == ["passed"] * 3
    with History(tmp_path / "h.sqlite") as h:
        h.record_results(results)
        rows = h.query(application=APP)
    text = sop.sop_markdown(APP, rows, now=NOW)
    assert "> Simulated target" in text
    by_mode = {(d["fault"]["type"], d["fault"]["via"]): [] for d in results["drills"]}  # type: ignore[var-annotated]
    for d in results["drills"]:
        by_mode[(d["fault"]["type"], d["fault"]["via"])].append(d)
    for mode in sop.failure_modes(APP, rows):
        drills = by_mode[(mode.fault_type, mode.via)]
        fastest = min(drills, key=lambda d: d["ttr_seconds"])
        assert mode.best is not None and mode.best.strategy == fastest["rollback"]["strategy"]
        assert mode.best.commands == fastest["rollback"]["commands"] and mode.best.commands
        assert "```sh\n" + "\n".join(fastest["rollback"]["commands"]) + "\n```" in text
        assert mode.detection is not None
        assert mode.detection.signal in {sop.signal_name(d["detected_by"]) for d in drills}
