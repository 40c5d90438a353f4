"""Run history (SQLite) and trends: round trips and filters, two writers on one file, percentiles
on known data, a planted TTR regression that must be flagged and a flat series that must not,
the trends report (en, zh) and the history/trends commands on a virtual clock.

``fake_drill`` builds results.json entries the way ``runner.results.drill_json`` does (checked
against the published schema); one test records real drills run on the simulated cluster.
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import random
import sqlite3
import statistics
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import jsonschema
import pytest
from rich.console import Console

from runner import loader, reporting_cli, trends
from runner.clock import VirtualClock, utc_iso
from runner.engine import Engine
from runner.errors import UsageError
from runner.history import History, HistoryRow, default_path, expectations_met
from runner.results import run_json
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget

from drillgen import EPOCH, ROOT, drill

SCHEMA = json.loads((ROOT / "runner" / "schemas" / "results.schema.json").read_text())
DAY = timedelta(days=1)


# --- synthetic drill results ----------------------------------------------------------------


def fake_drill(name: str = "bad-image-tag", *, outcome: str = "passed", ttd: float | None = 2.942,
               ttr: float | None = 5.444, strategy: str = "git-revert", commands: list[str] | None = None,
               detected_by: str | None = "pod-waiting(reasons=ErrImagePull,ImagePullBackOff)",
               app: str | None = "week6-api-dev", release: str | None = None, namespace: str = "dev",
               fault_type: str = "image-tag", via: str = "git", injected_at: datetime = EPOCH,
               target: str = "sim", rollback_seconds: float | None = 0.0, detect_within: float = 60.0,
               recover_within: float = 180.0, recovered_by: list[str] | None = None,
               run_id: str | None = None) -> dict[str, Any]:
    """A results.json drill entry with the fields and shapes ``drill_json`` produces."""
    def at(offset: float | None) -> str | None:
        return None if offset is None else utc_iso(injected_at + timedelta(seconds=offset))

    exps = [{"name": "detect-within", "limit_seconds": detect_within, "actual_seconds": ttd,
             "met": ttd is not None and ttd <= detect_within},
            {"name": "recover-within", "limit_seconds": recover_within, "actual_seconds": ttr,
             "met": ttr is not None and ttr <= recover_within}]
    for e in exps:
        e["status"] = "met" if e["met"] else "missed"
    commands = ["git revert --no-edit 1139f8439c9c", "git push origin main",
                f"argocd app get {app} --refresh"] if commands is None else commands
    return {
        "name": name, "description": f"{name} (synthetic)", "labels": {}, "source": f"drills/{name}.yaml:1",
        "run_id": run_id or f"{name}-{int(injected_at.timestamp())}",
        "target": {"name": target, "kind": "sim" if target == "sim" else "kube", "simulated": target == "sim",
                   "application": app, "release": release, "namespace": namespace, "deployment": "week6-api"},
        "fault": {"type": fault_type, "via": via, "params": {"tag": "does-not-exist-0000"},
                  "description": "image tag -> does-not-exist-0000"},
        "injected_at": at(0.0), "detected_at": at(ttd), "detected_by": detected_by if ttd is not None else None,
        "recovered_at": at(ttr), "recovered_by": recovered_by if recovered_by is not None else
        (["app-sync: Synced", "app-health: Healthy", "deployment-available"] if ttr is not None else []),
        "ttd_seconds": ttd, "ttr_seconds": ttr,
        "rollback": None if ttd is None else {
            "strategy": strategy, "started_at": at(ttd), "finished_at": at(ttd + (rollback_seconds or 0.0)),
            "duration_seconds": rollback_seconds, "commands": commands, "notes": [], "error": None},
        "injection": None, "outcome": outcome, "reason": "synthetic", "expectations": exps,
        "restore": {"status": "clean", "actions": [], "manual_commands": [], "remaining": []},
        "triage": None, "findings": [], "timeline": [],
    }


def record_series(h: History, name: str, ttrs: Sequence[float | None], *, start: datetime = EPOCH,
                  ttds: Sequence[float | None] | None = None, outcomes: Sequence[str] | None = None,
                  **kw: Any) -> None:
    """One run a day; outcome 'passed' unless given (or 'not-recovered' when TTR is None)."""
    for i, ttr in enumerate(ttrs):
        ttd = ttds[i] if ttds else 2.9
        outcome = outcomes[i] if outcomes else ("passed" if ttr is not None else "not-recovered")
        started = start + i * DAY
        h.record(fake_drill(name, ttd=ttd, ttr=ttr, outcome=outcome, injected_at=started + timedelta(seconds=5), **kw),
                 run_started_at=started, target=kw.get("target", "sim"))


def _rows(path: Path) -> list[HistoryRow]:
    with History(path) as h:
        return h.query()


@pytest.fixture
def hist(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "h" / "history.sqlite")
    yield h
    h.close()


# --- the synthetic drills look like real ones -----------------------------------------------


def test_fake_drills_match_the_results_schema() -> None:
    doc = {"schema_version": 1, "started_at": utc_iso(EPOCH), "finished_at": utc_iso(EPOCH),
           "target": {"name": "sim", "kind": "sim", "simulated": True},
           "summary": {"total": 2, "passed": 1, "not_passed": 1, "needs_manual_repair": 0},
           "drills": [fake_drill(), fake_drill("slow", outcome="not-detected", ttd=None, ttr=None)]}
    jsonschema.validate(doc, SCHEMA)


# --- history ---------------------------------------------------------------------------------


def test_round_trip_keeps_summary_columns_and_full_json(hist: History) -> None:
    d = fake_drill(ttd=2.5, ttr=9.75, rollback_seconds=1.25, injected_at=EPOCH + timedelta(seconds=3))
    hist.record(d, run_started_at=EPOCH, target="sim", suite="game-day")
    [row] = hist.query()
    assert row.drill == "bad-image-tag" and row.target == "sim" and row.suite == "game-day" and row.source == "run"
    assert (row.fault_type, row.fault_via, row.rollback_strategy) == ("image-tag", "git", "git-revert")
    assert (row.outcome, row.ttd_seconds, row.ttr_seconds, row.rollback_seconds) == ("passed", 2.5, 9.75, 1.25)
    assert row.expectations_met is True and row.restore_status == "clean" and row.passed
    assert row.run_started_at == EPOCH and row.run_started_at.tzinfo is not None
    assert row.injected_at == EPOCH + timedelta(seconds=3)
    assert row.detected_at == EPOCH + timedelta(seconds=5.5)
    assert row.recovered_at == EPOCH + timedelta(seconds=12.75)
    assert (row.application, row.namespace, row.simulated) == ("week6-api-dev", "dev", True)
    assert row.detected_by == "pod-waiting(reasons=ErrImagePull,ImagePullBackOff)"
    assert row.data == d
    assert row.rollback_commands == d["rollback"]["commands"]
    # times are stored as ISO 8601 UTC strings
    raw = sqlite3.connect(hist.path).execute("SELECT run_started_at, injected_at FROM drill_runs").fetchone()
    assert raw == ("2026-01-05T09:00:00.000Z", "2026-01-05T09:00:03.000Z")


def test_schema_is_versioned_and_in_wal_mode(hist: History) -> None:
    db = sqlite3.connect(hist.path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_run_started_at_accepts_iso_strings_in_any_zone_and_refuses_naive_times(hist: History) -> None:
    hist.record(fake_drill(), run_started_at="2026-01-05T10:00:00+01:00", target="sim")
    hist.record(fake_drill(), run_started_at="2026-01-05T09:30:00.000Z", target="sim")
    assert [r.run_started_at for r in hist.query()] == [EPOCH, EPOCH + timedelta(minutes=30)]
    with pytest.raises(ValueError, match="timezone"):
        hist.record(fake_drill(), run_started_at=datetime(2026, 1, 5, 9), target="sim")


def test_expectations_met_needs_every_expectation() -> None:
    assert expectations_met(fake_drill(ttr=5.0))
    assert not expectations_met(fake_drill(ttr=500.0, outcome="failed"))
    bare = fake_drill(outcome="aborted", ttd=None, ttr=None)
    bare["expectations"] = []
    assert not expectations_met(bare)


def test_query_filters_and_orders_oldest_first(hist: History) -> None:
    # recorded out of order on purpose
    hist.record(fake_drill("b"), run_started_at=EPOCH + 2 * DAY, target="sim")
    hist.record(fake_drill("a"), run_started_at=EPOCH, target="sim")
    hist.record(fake_drill("a", target="staging"), run_started_at=EPOCH + 3 * DAY, target="staging")
    hist.record(fake_drill("a", app="week6-api-prod"), run_started_at=EPOCH + DAY, target="sim")
    hist.record(fake_drill("c", app=None, release="week6-api", namespace="sandbox"), run_started_at=EPOCH + 4 * DAY,
                target="sim")
    assert [(r.drill, r.run_started_at) for r in hist.query()] == [
        ("a", EPOCH), ("a", EPOCH + DAY), ("b", EPOCH + 2 * DAY), ("a", EPOCH + 3 * DAY), ("c", EPOCH + 4 * DAY)]
    assert [r.run_started_at for r in hist.query(drill="a")] == [EPOCH, EPOCH + DAY, EPOCH + 3 * DAY]
    assert [r.drill for r in hist.query(since=EPOCH + 2 * DAY)] == ["b", "a", "c"]
    assert [r.drill for r in hist.query(drill="a", since=EPOCH + DAY, target="sim")] == ["a"]
    assert [r.target for r in hist.query(target="staging")] == ["staging"]
    assert [r.run_started_at for r in hist.query(application="week6-api-prod")] == [EPOCH + DAY]
    # a plain Helm release answers to its release name
    assert [r.drill for r in hist.query(application="week6-api")] == ["c"]
    assert hist.query(drill="nope") == []


def test_record_results_records_a_real_run_on_the_simulated_cluster(tmp_path: Path) -> None:
    sim = SimTarget(SimConfig(seed=7, platform_config=ROOT / "kind" / "platform-config"), VirtualClock(start=EPOCH))
    docs, _ = loader.drills_to_run([ROOT / "drills" / "bad-image-tag.yaml"])
    engine = Engine(sim, run_ids=lambda name: f"{name}-hist")
    runs = [engine.run(docs[0].model, "drills/bad-image-tag.yaml:1"),
            engine.run(drill("image-tag", "git", "none", "dev", name="left-broken", recover_timeout="60s"), "x.yaml:1")]
    results = run_json(runs, EPOCH, EPOCH + timedelta(minutes=5), {"name": "sim", "kind": "sim", "simulated": True})
    with History(tmp_path / "history.sqlite") as h:
        assert h.record_results(results, suite="game-day", source="daemon") == 2
        good, broken = h.query()
    d = results["drills"][0]
    assert good.data == json.loads(json.dumps(d))
    assert (good.drill, good.outcome, good.source, good.suite) == ("bad-image-tag", "passed", "daemon", "game-day")
    assert good.ttd_seconds == d["ttd_seconds"] and good.ttr_seconds == d["ttr_seconds"]
    assert good.rollback_commands[0].startswith("git revert --no-edit ")
    assert good.detected_by == d["detected_by"] and good.expectations_met
    assert (broken.drill, broken.outcome, broken.ttr_seconds, broken.restore_status) == (
        "left-broken", "not-recovered", None, "repaired")


def test_two_history_objects_append_to_one_file_from_threads(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    a, b = History(path), History(path)
    start = threading.Barrier(2)

    def write(h: History, name: str) -> None:
        start.wait()
        for i in range(40):
            h.record(fake_drill(name), run_started_at=EPOCH + timedelta(minutes=i), target="sim")

    threads = [threading.Thread(target=write, args=(a, "left")), threading.Thread(target=write, args=(b, "right"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = a.query()
    assert len(rows) == 80 and len({r.id for r in rows}) == 80
    assert len(b.query(drill="left")) == len(b.query(drill="right")) == 40
    a.close()
    b.close()


def _append_from_process(path: str, name: str, count: int, barrier: Any) -> None:
    barrier.wait()  # both processes open a file that does not exist yet, at the same time
    with History(Path(path)) as h:
        for i in range(count):
            h.record(fake_drill(name), run_started_at=EPOCH + timedelta(seconds=i), target="sim")


def test_two_processes_create_and_append_to_one_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    path = tmp_path / "new" / "history.sqlite"
    procs = [ctx.Process(target=_append_from_process, args=(str(path), name, 25, barrier)) for name in ("p1", "p2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    rows = _rows(path)
    assert len(rows) == 50
    assert {r.drill for r in rows} == {"p1", "p2"}


def test_refuses_newer_schemas_and_files_that_are_not_histories(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(UsageError, match="newer"):
        History(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all, just some bytes" * 20)
    with pytest.raises(UsageError, match="not a release-drills history"):
        History(junk)


def test_default_path_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DRILLS_HISTORY", raising=False)
    assert default_path() == Path("reports/history.sqlite")
    monkeypatch.setenv("DRILLS_HISTORY", str(tmp_path / "x.sqlite"))
    assert default_path() == tmp_path / "x.sqlite"


# --- percentiles ------------------------------------------------------------------------------


def test_percentile_on_known_data() -> None:
    one_to_ten = list(range(1, 11))
    assert trends.percentile(one_to_ten, 50) == 5.5
    assert trends.percentile(one_to_ten, 95) == pytest.approx(9.55)
    assert trends.percentile(one_to_ten, 0) == 1 and trends.percentile(one_to_ten, 100) == 10
    assert trends.percentile([15, 20, 35, 40, 50], 40) == pytest.approx(29.0)
    assert trends.percentile([3, 1, 2], 50) == 2  # order does not matter
    assert trends.percentile([7.5], 95) == 7.5
    # the same method as statistics.quantiles(method="inclusive") (Hyndman & Fan type 7)
    data = [0.002, 1.532, 2.5, 2.942, 5.444, 5.592, 5.624, 12.0, 40.1]
    cuts = statistics.quantiles(data, n=20, method="inclusive")
    assert trends.percentile(data, 50) == pytest.approx(cuts[9])
    assert trends.percentile(data, 95) == pytest.approx(cuts[18])
    with pytest.raises(ValueError):
        trends.percentile([], 50)
    with pytest.raises(ValueError):
        trends.percentile([1.0], 101)


# --- regressions ------------------------------------------------------------------------------


def _jitter(seed: int, n: int, centre: float, spread: float) -> list[float | None]:
    rnd = random.Random(seed)
    return [round(centre + rnd.uniform(-spread, spread), 3) for _ in range(n)]


@pytest.fixture
def planted(hist: History) -> list[HistoryRow]:
    """'slow-rollback': 30 runs around 5 s TTR, then 7 around 12 s. 'steady': 37 runs around 5 s."""
    record_series(hist, "slow-rollback", _jitter(1, 30, 5.0, 0.5) + _jitter(2, 7, 12.0, 1.0))
    record_series(hist, "steady", _jitter(3, 37, 5.0, 0.5), app="week6-api-stage")
    return hist.query()


def test_planted_ttr_regression_is_flagged_and_the_flat_series_is_not(planted: list[HistoryRow]) -> None:
    regs = trends.regressions(planted)
    assert [(r.drill, r.target, r.metric) for r in regs] == [("slow-rollback", "sim", trends.Metric.TTR)]
    r = regs[0]
    series = [x.ttr_seconds for x in planted if x.drill == "slow-rollback" and x.ttr_seconds is not None]
    recent, baseline = series[-7:], series[:30]
    assert r.recent == trends.percentile(recent, 50) and r.baseline == trends.percentile(baseline, 50)
    assert (r.recent_runs, r.baseline_runs) == (7, 30)
    assert r.ratio is not None and r.ratio > 2


def test_baseline_is_at_most_thirty_runs_before_the_recent_seven(hist: History) -> None:
    # 20 very slow runs long ago, then 30 at 5 s, then 7 at 6 s: not a regression against the last 30
    record_series(hist, "d", [60.0] * 20 + [5.0] * 30 + [6.0] * 7)
    assert trends.regressions(hist.query()) == []
    # ... and 7 at 8 s is (8 > 1.5 x 5 and 3 s slower)
    record_series(hist, "e", [60.0] * 20 + [5.0] * 30 + [8.0] * 7)
    assert [(r.drill, r.baseline) for r in trends.regressions(hist.query())] == [("e", 5.0)]


def test_slowdown_must_be_over_1_5x_and_at_least_a_second(hist: History) -> None:
    record_series(hist, "exactly-1-5x", [4.0] * 30 + [6.0] * 7)          # not *over* 1.5x
    record_series(hist, "tiny", [0.4] * 30 + [0.9] * 7)                   # 2.25x but 0.5 s
    record_series(hist, "ttd-jitter", [5.0] * 37, ttds=[0.002] * 30 + [0.004] * 7)  # 2 ms -> 4 ms
    record_series(hist, "ttd-slower", [30.0] * 37, ttds=[3.0] * 30 + [9.0] * 7)
    assert [(r.drill, r.metric) for r in trends.regressions(hist.query())] == [("ttd-slower", trends.Metric.TTD)]


def test_pass_rate_drop(hist: History) -> None:
    ok, bad = "passed", "failed"
    record_series(hist, "spotless-then-two-failures", [5.0] * 37, outcomes=[ok] * 30 + [ok, bad, ok, ok, bad, ok, ok])
    record_series(hist, "spotless-then-one-failure", [5.0] * 37, outcomes=[ok] * 30 + [ok] * 6 + [bad])
    # 27/30 = 90 % before, 6/7 = 86 % now: within 10 points, not flagged
    record_series(hist, "flaky-as-usual", [5.0] * 37, outcomes=([ok] * 9 + [bad]) * 3 + [ok] * 6 + [bad])
    regs = {r.drill: r for r in trends.regressions(hist.query())}
    assert set(regs) == {"spotless-then-two-failures", "spotless-then-one-failure"}
    r = regs["spotless-then-two-failures"]
    assert r.metric is trends.Metric.PASS_RATE and r.recent == pytest.approx(5 / 7) and r.baseline == 1.0


def test_short_histories_are_not_checked(hist: History) -> None:
    record_series(hist, "young", [5.0] * 6 + [50.0] * 7)  # 13 runs: one short of 7 + 7
    assert trends.regressions(hist.query()) == []
    [t] = trends.drill_trends(hist.query())
    assert not t.checked and t.runs == 13


def test_drills_on_different_targets_are_separate_series(hist: History) -> None:
    record_series(hist, "d", [5.0] * 37)
    record_series(hist, "d", [60.0] * 7, start=EPOCH + 40 * DAY, target="staging")  # real cluster: slower, not worse
    assert trends.regressions(hist.query()) == []
    assert [(t.drill, t.target, t.runs) for t in trends.drill_trends(hist.query())] == [("d", "sim", 37),
                                                                                        ("d", "staging", 7)]


def test_trend_statistics(hist: History) -> None:
    record_series(hist, "d", [1.0, 2.0, 3.0, 4.0, None], ttds=[0.5, 0.5, 1.0, 1.0, 2.0])
    [t] = trends.drill_trends(hist.query())
    assert (t.runs, t.passed, t.pass_rate) == (5, 4, 0.8)
    assert (t.ttr_p50, t.ttr_runs, t.ttd_p50, t.ttd_runs) == (2.5, 4, 1.0, 5)
    assert t.ttr_p95 == pytest.approx(3.85)
    assert t.last_outcome == "not-recovered" and t.last_run == EPOCH + 4 * DAY
    assert t.chart is not None and t.chart.labels == ("#1", "#2", "#3", "#4") and t.chart.ttr == (1.0, 2.0, 3.0, 4.0)
    assert t.chart.y_max == 5.0


# --- the trends report -------------------------------------------------------------------------


NOW = EPOCH + 40 * DAY


def test_trends_markdown_puts_regressions_first_with_their_numbers(planted: list[HistoryRow]) -> None:
    text = trends.trends_markdown(planted, NOW)
    reg = trends.regressions(planted)[0]
    regressions = text.split("## Regressions", 1)[1].split("## Overview", 1)[0]
    assert "**slow-rollback**" in regressions and "**TTR**" in regressions and "steady" not in regressions
    from runner.durations import human_seconds
    assert human_seconds(reg.recent) in regressions and human_seconds(reg.baseline) in regressions
    assert text.index("## Regressions") < text.index("## Overview") < text.index("## slow-rollback on `sim`")
    assert text.count("```mermaid\nxychart-beta") == 2
    chart = text.split("## steady", 1)[1].split("```mermaid", 1)[1].split("```", 1)[0]
    labels = chart.split("x-axis", 1)[1].split("\n", 1)[0]
    lines = [ln.strip() for ln in chart.splitlines() if ln.strip().startswith("line [")]
    assert len(lines) == 2 and all(ln.count(",") == labels.count(",") == 36 for ln in lines)
    assert "| run | started (UTC) | outcome | TTD | TTR |" in text
    assert "| 37 | 2026-02-10 09:00 | passed |" in text


def test_trends_markdown_without_regressions_and_in_chinese(hist: History) -> None:
    record_series(hist, "steady", [5.0] * 3)
    text = trends.trends_markdown(hist.query(), NOW)
    assert "No regressions." in text and "Not checked yet" in text and "steady on `sim` (3)" in text
    zh = trends.trends_markdown(hist.query(), NOW, lang="zh")
    for needle in ("# 演练趋势", "## 退化", "没有发现退化", "## 总览", "xychart-beta", "尚未检查"):
        assert needle in zh, needle
    assert "No runs recorded yet." in trends.trends_markdown([], NOW)


# --- the history and trends commands -----------------------------------------------------------


def _console() -> Console:
    return Console(file=io.StringIO(), width=200, highlight=False)


def _text(c: Console) -> str:
    f = c.file
    assert isinstance(f, io.StringIO)
    return f.getvalue()


def test_parse_since() -> None:
    now = EPOCH
    assert reporting_cli.parse_since("7d", now) == now - 7 * DAY
    assert reporting_cli.parse_since("24h", now) == now - DAY
    assert reporting_cli.parse_since("30m", now) == now - timedelta(minutes=30)
    assert reporting_cli.parse_since("90s", now) == now - timedelta(seconds=90)
    assert reporting_cli.parse_since("1d12h", now) == now - timedelta(hours=36)
    assert reporting_cli.parse_since("2026-01-01", now) == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert reporting_cli.parse_since("2026-01-01T10:00+02:00", now) == datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    with pytest.raises(UsageError, match="7d"):
        reporting_cli.parse_since("last week", now)


def test_history_command_filters_with_a_virtual_clock(hist: History) -> None:
    record_series(hist, "old-and-new", [5.0] * 10)  # EPOCH .. EPOCH + 9 days
    record_series(hist, "other", [6.0] * 10)
    clock = VirtualClock(start=EPOCH + 10 * DAY)
    out, err = _console(), _console()
    args = argparse.Namespace(drill="old-and-new", since="3d", target=None, history=hist.path)
    assert reporting_cli.cmd_history(args, out, err, clock=clock) == 0
    text = _text(out)
    assert text.count("old-and-new") == 3 and "other" not in text and "3 run(s)" in text
    assert "2026-01-12 09:00:00" in text and "2026-01-14 09:00:00" in text and "2026-01-11" not in text
    out = _console()
    args = argparse.Namespace(drill=None, since=None, target="nowhere", history=hist.path)
    assert reporting_cli.cmd_history(args, out, err, clock=clock) == 0
    assert "no recorded runs match" in _text(out)


def test_history_command_without_a_history_file_is_a_usage_error(tmp_path: Path) -> None:
    args = argparse.Namespace(drill=None, since=None, target=None, history=tmp_path / "missing.sqlite")
    with pytest.raises(UsageError, match="no run history"):
        reporting_cli.cmd_history(args, _console(), _console(), clock=VirtualClock(start=EPOCH))
    assert not (tmp_path / "missing.sqlite").exists()


def test_trends_command_writes_the_report_and_fails_only_when_asked(planted: list[HistoryRow], hist: History,
                                                                    tmp_path: Path) -> None:
    clock = VirtualClock(start=NOW)
    out = _console()
    output = tmp_path / "out" / "trends.md"
    args = argparse.Namespace(history=hist.path, output=output, lang="en", fail_on_regression=False)
    assert reporting_cli.cmd_trends(args, out, _console(), clock=clock) == 0
    assert output.read_text(encoding="utf-8") == trends.trends_markdown(planted, NOW)
    assert f"wrote {output}: 74 run(s) of 2 drill(s), 1 regression(s)" in _text(out)
    assert "regression: slow-rollback on sim: TTR p50" in _text(out)
    args.fail_on_regression = True
    assert reporting_cli.cmd_trends(args, _console(), _console(), clock=clock) == 1


def test_subcommands_parse() -> None:
    parser = argparse.ArgumentParser(prog="drills")
    sub = parser.add_subparsers(dest="command", required=True)
    reporting_cli.add_subcommands(sub)
    a = parser.parse_args(["history", "--drill", "x", "--since", "7d", "--target", "sim", "--history", "h.sqlite"])
    assert (a.command, a.drill, a.since, a.target, a.history) == ("history", "x", "7d", "sim", Path("h.sqlite"))
    a = parser.parse_args(["trends"])
    assert (a.output, a.lang, a.fail_on_regression, a.history) == (Path("reports/trends.md"), "en", False, None)
    a = parser.parse_args(["sop", "week6-api-prod", "--lang", "zh"])
    assert (a.app, a.lang, a.output) == ("week6-api-prod", "zh", None)
    assert set(reporting_cli.COMMANDS) == {"history", "trends", "sop"}
