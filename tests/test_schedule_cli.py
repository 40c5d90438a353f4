"""`drills schedule` as a user runs it: the nightly suite on the simulated cluster, unattended on a
compressed clock (an hour per second), its results on /metrics and in `drills trends`; SIGTERM
stops it cleanly; `--list` prints the next fire times."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from drillgen import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


def test_nightly_suite_runs_unattended_on_a_compressed_clock(tmp_path: Path) -> None:
    port = free_port()
    history = tmp_path / "history.sqlite"
    env = {**os.environ, "DRILLS_STATE": str(tmp_path / "state")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "schedule", "drills/suites/nightly.yaml", "--target", "sim",
         "--time-scale", "3600", "--metrics-port", str(port), "--history", str(history),
         "--state-dir", str(tmp_path / "schedule"), "--report-dir", str(tmp_path / "reports")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("nightly: next run 20"), first
        # wait until the daemon reports the whole suite on /metrics (the next 02:00 Berlin is at most
        # a day of scheduler time away: 24 s real), bounded by a generous deadline
        deadline = 120.0
        import time
        t0 = time.monotonic()
        text = ""
        while time.monotonic() - t0 < deadline:  # sync-ok: condition wait on an HTTP endpoint, bounded
            text = scrape(port)
            if text.count('drills_runs_total{drill=') >= 6:
                break
            time.sleep(0.2)  # sync-ok: poll interval of the condition above
        assert 'drills_runs_total{drill="bad-image-tag",outcome="passed",target="sim"} 1.0' in text, text[-2000:]
        assert 'drills_runs_total{drill="replica-drift",outcome="passed",target="sim"} 1.0' in text
        assert "drills_time_to_recover_seconds_bucket" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    reports = list((tmp_path / "reports").iterdir())
    assert len(reports) == 1 and reports[0].name.endswith("-nightly")
    trends = subprocess.run([sys.executable, "-m", "runner.cli", "trends", "--history", str(history),
                             "--output", str(tmp_path / "trends.md")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert trends.returncode == 0, trends.stdout + trends.stderr
    md = (tmp_path / "trends.md").read_text()
    for name in ("bad-image-tag", "replica-drift", "deleted-service"):
        assert name in md
    hist = subprocess.run([sys.executable, "-m", "runner.cli", "history", "--history", str(history), "--drill", "replica-drift"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert hist.returncode == 0 and "replica-drift" in hist.stdout and "passed" in hist.stdout


def test_list_prints_next_fire_times(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "runner.cli", "schedule", "drills/suites/nightly.yaml", "--target", "sim",
                        "--list", "--state-dir", str(tmp_path / "s"), "--history", str(tmp_path / "h.sqlite")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    when = datetime.fromisoformat(r.stdout.split("next run ", 1)[1].strip())
    berlin = when.astimezone(ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute // 10) == (2, 0)  # 02:00 Berlin plus at most 5 min of jitter


def test_unscheduled_suite_is_refused(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "runner.cli", "schedule", "drills/suites/game-day.yaml", "--target", "sim",
                        "--state-dir", str(tmp_path / "s")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "without a schedule: game-day" in r.stderr


def test_sigterm_during_a_scheduled_drill_restores_it_and_stops(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "schedule", "drills/suites/nightly.yaml", "--target", "sim", "--run-now",
         "--pace", "5", "--history", str(history), "--state-dir", str(tmp_path / "schedule"), "--report-dir", str(tmp_path / "r")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DRILLS_STATE": str(tmp_path / "state")})
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the daemon logs each drill's steps as plain lines
        seen.append(line)
        if "FaultInjected" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 0, "".join(seen) + rest
    assert "SIGTERM" in rest and "RestoreVerified" in rest
    from runner.history import History

    rows = History(history).query()
    assert [(r.drill, r.outcome) for r in rows] == [("replica-drift", "aborted")]  # restored, and nothing after it ran
    assert rows[0].restore_status in ("clean", "repaired")


def test_responders_reach_the_in_cluster_runner_over_http_with_a_token(tmp_path: Path) -> None:
    import json as _json
    import urllib.error

    port = free_port()
    token = "t0ken-for-tests"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "gameday", "gamedays/suite.yaml", "--pace", "2", "--control-port", str(port),
         "--report-dir", str(tmp_path / "r")], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DRILLS_STATE": str(tmp_path / "state"), "DRILLS_HISTORY": str(tmp_path / "h.sqlite"),
             "DRILLS_CONTROL_TOKEN": token})
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("start\n")
    proc.stdin.flush()
    run_id = ""
    for line in proc.stdout:
        if "started: run id " in line:
            run_id = line.split("run id ")[1].split()[0]
            break

    def post(path: str, body: dict, tok: str) -> tuple[int, dict]:
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=_json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, _json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _json.loads(e.read())

    try:
        assert run_id
        assert post(f"/runs/{run_id}/ack", {"by": "dave"}, "wrong")[0] == 401
        assert post("/runs/no-such-run/ack", {"by": "dave"}, token)[0] == 404
        assert post(f"/runs/{run_id}/ack", {"by": "dave", "note": "from the cluster"}, token) == (200, {"ok": True, "run": run_id})
        assert post(f"/runs/{run_id}/abort", {"by": "facilitator"}, token)[0] == 200
        out = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "dave acknowledged: from the cluster" in out and "aborted by facilitator" in out
    assert proc.returncode == 1
