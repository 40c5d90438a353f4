"""The scheduler on an injected clock: fire times, misfire and coalescing after downtime, no
overlapping drills per target (a lock held by another process), restart from the job store
without duplicates, the run window."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from runner import loader
from runner.clock import VirtualClock
from runner.daemon import Daemon
from runner.locks import FileTargetLock
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget

from drillgen import ROOT

START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # a Monday, noon UTC


def suite_file(tmp: Path, name: str, schedule: str, window: str = "", drills: str = "../replica-drift.yaml",
               target: str = "sim") -> Path:
    (tmp / "suites").mkdir(exist_ok=True)
    (tmp / "replica-drift.yaml").write_text((ROOT / "drills" / "replica-drift.yaml").read_text())
    (tmp / "deleted-service.yaml").write_text((ROOT / "drills" / "deleted-service.yaml").read_text())
    p = tmp / "suites" / f"{name}.yaml"
    p.write_text(textwrap.dedent(f"""\
        apiVersion: drills.release/v1
        kind: Suite
        metadata: {{name: {name}}}
        spec:
          target: {target}
          schedule: {schedule}
          drills: [{drills}]
        """) + (f"  window: {window}\n" if window else ""))
    return p


def load_suite(p: Path) -> Any:
    res = loader.load_file(p)
    assert not res.problems, [str(x) for x in res.problems]
    return res.documents[0]


class Harness:
    def __init__(self, tmp: Path, suites: list[Path], clock: VirtualClock, lock_wait: float = 0.0) -> None:
        self.tmp, self.clock = tmp, clock
        self.runs: list[tuple[str, str, str]] = []
        self.sims: list[SimTarget] = []

        def make_target(name: str) -> SimTarget:
            sim = SimTarget(SimConfig(seed=len(self.sims) + 1, platform_config=ROOT / "kind" / "platform-config"))
            self.sims.append(sim)
            return sim

        self.daemon = Daemon([load_suite(p) for p in suites], clock, make_target,
                             lambda name: FileTargetLock(tmp / "locks" / f"{name}.lock", clock),
                             f"sqlite:///{tmp / 'jobs.sqlite'}", lock_wait=lock_wait,
                             on_run=[lambda sr, run: self.runs.append((sr.suite, run.drill.metadata.name,
                                                                        run.verdict.outcome.value if run.verdict else "?"))])

    def at(self, when: datetime) -> None:
        self.clock.advance_to((when - START).total_seconds())
        self.daemon.tick()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=START)


def test_cron_fire_times_in_the_suite_time_zone(tmp_path: Path, clock: VirtualClock) -> None:
    h = Harness(tmp_path, [suite_file(tmp_path, "nightly", "{cron: '0 2 * * *', timezone: Europe/Berlin}")], clock)
    h.daemon.start()
    [(name, when)] = h.daemon.next_fire_times()
    assert name == "nightly" and when == datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc)  # 02:00 CET
    h.at(datetime(2026, 3, 3, 0, 59, tzinfo=timezone.utc))
    assert h.runs == []
    h.at(datetime(2026, 3, 3, 1, 0, 1, tzinfo=timezone.utc))
    assert h.runs == [("nightly", "replica-drift", "passed")]
    assert h.daemon.next_fire_times()[0][1] == datetime(2026, 3, 4, 1, 0, tzinfo=timezone.utc)
    h.daemon.shutdown()


def test_downtime_coalesces_into_one_run_within_grace(tmp_path: Path, clock: VirtualClock) -> None:
    h = Harness(tmp_path, [suite_file(tmp_path, "hourly", "{interval: 1h}")], clock)
    h.daemon.start()
    # the daemon was "down" for five and a half hours: five fire times passed; one run, not five
    h.at(START + timedelta(hours=5, minutes=30))
    assert [r[0] for r in h.runs] == ["hourly"]
    assert h.daemon.next_fire_times()[0][1] == START + timedelta(hours=6)
    h.daemon.shutdown()


def test_a_run_later_than_the_grace_is_skipped(tmp_path: Path, clock: VirtualClock) -> None:
    h = Harness(tmp_path, [suite_file(tmp_path, "nightly", "{cron: '0 2 * * *'}")], clock)
    h.daemon.start()
    h.at(datetime(2026, 3, 3, 4, 30, tzinfo=timezone.utc))  # 2.5 h late: over the 1 h grace
    assert h.runs == []
    assert h.daemon.next_fire_times()[0][1] == datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc)
    h.daemon.shutdown()


def test_restart_from_the_job_store_neither_loses_nor_duplicates(tmp_path: Path, clock: VirtualClock) -> None:
    p = suite_file(tmp_path, "nightly", "{cron: '0 2 * * *'}")
    h = Harness(tmp_path, [p], clock)
    h.daemon.start()
    h.at(datetime(2026, 3, 3, 2, 0, 5, tzinfo=timezone.utc))
    assert len(h.runs) == 1
    h.daemon.shutdown()
    # restarted 20 minutes later: the stored next fire time is tomorrow; nothing runs again
    clock.advance_to((datetime(2026, 3, 3, 2, 20, tzinfo=timezone.utc) - START).total_seconds())
    h2 = Harness(tmp_path, [p], clock)
    h2.daemon.start()
    h2.daemon.tick()
    assert h2.runs == []
    assert h2.daemon.next_fire_times()[0][1] == datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc)
    h2.daemon.shutdown()
    # restarted during downtime that covered a fire time: the stored (missed) one runs once
    clock.advance_to((datetime(2026, 3, 4, 2, 30, tzinfo=timezone.utc) - START).total_seconds())
    h3 = Harness(tmp_path, [p], clock)
    h3.daemon.start()
    h3.daemon.tick()
    assert len(h3.runs) == 1
    h3.daemon.shutdown()


def test_window_keeps_drills_out_of_business_hours(tmp_path: Path, clock: VirtualClock) -> None:
    h = Harness(tmp_path, [suite_file(tmp_path, "often", "{interval: 2h}",
                                      window="{start: '22:00', end: '06:00', timezone: UTC}")], clock)
    h.daemon.start()
    for hour in range(2, 24, 2):
        h.at(START + timedelta(hours=hour))
    # fire times at 14, 16, ... 10 next day: only 22, 00, 02, 04 are inside the window
    assert len(h.runs) == 4
    skipped = [sr.skipped for sr in h.daemon.history if sr.skipped]
    assert skipped and all("outside the window 22:00-06:00" in s for s in skipped)
    h.daemon.shutdown()


def test_a_target_locked_by_another_process_is_skipped_and_said(tmp_path: Path, clock: VirtualClock) -> None:
    lock_path = tmp_path / "locks" / "sim.lock"
    lock_path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""\
            import fcntl, json, os, sys
            fd = os.open({str(lock_path)!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, json.dumps({{"holder": "other-runner/42"}}).encode())
            print("held", flush=True)
            sys.stdin.read()
            """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        h = Harness(tmp_path, [suite_file(tmp_path, "hourly", "{interval: 1h}")], clock, lock_wait=0.0)
        h.daemon.start()
        h.at(START + timedelta(hours=1, seconds=1))
        assert h.runs == []
        [sr] = h.daemon.history
        assert sr.skipped == "target sim is locked by other-runner/42; waited 0 s"
    finally:
        holder.communicate("")
    h.at(START + timedelta(hours=2, seconds=1))
    assert len(h.runs) == 1  # released: the next fire time runs
    h.daemon.shutdown()


def test_two_suites_on_one_target_never_overlap(tmp_path: Path, clock: VirtualClock) -> None:
    a = suite_file(tmp_path, "a", "{interval: 1h}")
    b = suite_file(tmp_path, "b", "{interval: 1h}", drills="../deleted-service.yaml")
    h = Harness(tmp_path, [a, b], clock)
    h.daemon.start()
    h.at(START + timedelta(hours=1, seconds=1))
    assert sorted(r[0] for r in h.runs) == ["a", "b"]
    # each suite ran with the lock held: the second started after the first finished
    spans = [(sr.suite, sr.started_at) for sr in h.daemon.history]
    assert len(spans) == 2
    h.daemon.shutdown()


def test_bad_schedules_are_definition_errors(tmp_path: Path) -> None:
    p = suite_file(tmp_path, "bad", "{cron: '61 2 * * *', timezone: Mars/Olympus}")
    out = [str(x) for x in loader.load_file(p).problems]
    assert any(":6:20: spec.schedule.cron: invalid cron expression '61 2 * * *'" in x for x in out), out
    assert any("spec.schedule.timezone: unknown time zone 'Mars/Olympus'" in x for x in out), out
