"""Game days with people in the loop: manual drills with scripted responders on the virtual clock
(exact times), max-duration restores while the team is still working, `drills ack` from a second
process lands in the running drill's timeline, a wrong run id exits 2, and the facilitator's
console driven in tmux shows the signals and takes a note and an abort."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from runner import loader
from runner.clock import VirtualClock
from runner.engine import Engine
from runner.humans import HumanInbox
from runner.kinds import Outcome, RestoreStatus
from runner.responders import Responders, ScriptedResponders
from runner.results import drill_json
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget
from runner.timeline import EventKind

from drillgen import EPOCH, ROOT

GAMEDAY = ROOT / "gamedays" / "bad-image-tag.yaml"
TEAM = ROOT / "gamedays" / "responders" / "rehearsal.yaml"


def load(path: Path) -> Any:
    res = loader.load_file(path)
    assert not res.problems, [str(p) for p in res.problems]
    return res.documents[0].model


def sim() -> SimTarget:
    return SimTarget(SimConfig(seed=7, platform_config=ROOT / "kind" / "platform-config"), VirtualClock(start=EPOCH))


def play(drill: Any, script: Responders) -> Any:
    target, inbox = sim(), HumanInbox()
    run = Engine(target, [ScriptedResponders([script], target, inbox)], inbox=inbox).run(drill)
    return run, target


def test_scripted_team_times_are_exact_on_the_virtual_clock() -> None:
    run, target = play(load(GAMEDAY), load(TEAM))
    t0 = run.injected_at
    human = [(e.kind, round(e.at - t0, 9), e.data.get("by")) for e in run.timeline if e.source.startswith("human:")]
    assert human == [(EventKind.HUMAN_ACKNOWLEDGED, 90.0, "alice"), (EventKind.HUMAN_NOTE, 120.0, "facilitator"),
                     (EventKind.HUMAN_ACTED, 150.0, "bob"), (EventKind.HUMAN_MITIGATED, 200.0, "bob")]
    assert run.verdict.outcome is Outcome.PASSED
    assert run.verdict.ttr_seconds == pytest.approx(200.0, abs=1e-9)  # recovery needs "mitigated" as well
    d = drill_json(run)
    assert d["human"]["first_ack"] == {"seconds": 90.0, "by": "alice", "message": "alice acknowledged: paged by the ImagePullBackOff alert; looking"}
    assert d["human"]["first_action"]["seconds"] == 150.0 and d["human"]["people"] == ["alice", "bob", "facilitator"]
    assert any(c.startswith("git revert --no-edit") for c in d["human"]["events"][2]["data"]["commands"])


def test_max_duration_restores_while_the_team_is_still_working() -> None:
    doc = yaml.safe_load(GAMEDAY.read_text())
    doc["spec"]["gameday"].update({"max-duration": "5m", "hint-after": "4m"})
    drill = loader.load_text(yaml.safe_dump(doc), "x.yaml").documents[0].model
    team = Responders.model_validate({"apiVersion": "drills.release/v1", "kind": "Responders", "metadata": {"name": "slow"},
                                      "spec": {"steps": [{"at": "60s", "ack": {"by": "alice"}},
                                                         {"at": "10m", "run": "git-revert", "by": "alice"}]}})
    run, target = play(drill, team)
    t0 = run.injected_at
    [stop] = [e for e in run.timeline if e.kind is EventKind.MAX_DURATION_REACHED]
    [hint] = [e for e in run.timeline if e.kind is EventKind.HINT_SHOWN]
    assert stop.at - t0 == pytest.approx(300.0, abs=1e-9) and hint.at - t0 == pytest.approx(240.0, abs=1e-9)
    assert run.verdict.outcome is Outcome.NOT_RECOVERED and "max-duration reached" in run.verdict.reason
    assert run.restore.status is RestoreStatus.REPAIRED  # the runner reverted Git itself
    assert not any(e.kind is EventKind.HUMAN_ACTED for e in run.timeline)  # the 10 min step never came
    assert target.git.read("apps/week6-api/values-dev.yaml").count("dev-latest") == 1


def drills(*args: str, env: dict[str, str], stdin: Any = None, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runner.cli", *args], cwd=ROOT, env=env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_drills_ack_from_a_second_process_lands_in_the_timeline(tmp_path: Path) -> None:
    env = {**os.environ, "DRILLS_STATE": str(tmp_path / "state"), "DRILLS_HISTORY": str(tmp_path / "h.sqlite")}
    # the team: only the rollback is scripted (at 60 s); the acknowledgement and "mitigated" come from people
    team = tmp_path / "team.yaml"
    team.write_text(yaml.safe_dump({"apiVersion": "drills.release/v1", "kind": "Responders", "metadata": {"name": "t"},
                                    "spec": {"steps": [{"at": "60s", "run": "git-revert", "by": "bob"}]}}))
    proc = drills("run", str(GAMEDAY), "--pace", "20", "--responders", str(team), "--json", "--no-report", env=env,
                  stdin=subprocess.DEVNULL)
    proc.stderr = None
    try:
        assert proc.stdout is not None
        out = subprocess.run  # noqa: F841 - keep linters quiet about the pattern below
        run_id = ""
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("run id: "):
                run_id = line.split()[2]
                break
        assert run_id, "".join(lines)
        bad = subprocess.run([sys.executable, "-m", "runner.cli", "ack", "no-such-run", "--by", "carol"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=30)
        assert bad.returncode == 2 and "no drill named 'no-such-run'" in bad.stderr and run_id in bad.stderr
        ack = subprocess.run([sys.executable, "-m", "runner.cli", "ack", run_id, "--by", "carol", "--note", "on it"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=30)
        assert ack.returncode == 0, ack.stdout + ack.stderr
        for line in proc.stdout:  # wait for the scripted rollback before declaring it fixed
            lines.append(line)
            if "HumanActed" in line:
                break
        mit = subprocess.run([sys.executable, "-m", "runner.cli", "mitigated", run_id, "--by", "carol"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=30)
        assert mit.returncode == 0, mit.stdout + mit.stderr
        rest = proc.stdout.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines) + rest
    results = json.loads(text[text.index("{\n"):])
    d = results["drills"][0]
    kinds = [(e["kind"], (e.get("data") or {}).get("by")) for e in d["timeline"] if e["source"].startswith("human:")]
    assert ("HumanAcknowledged", "carol") in kinds and ("HumanDeclaredMitigated", "carol") in kinds
    assert d["outcome"] == "passed" and d["human"]["first_ack"]["by"] == "carol"
    finished = subprocess.run([sys.executable, "-m", "runner.cli", "ack", run_id], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=30)
    assert finished.returncode == 2 and run_id in finished.stderr


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # sync-ok: polling tmux's screen for a condition, bounded


def test_facilitator_console_in_tmux_takes_a_note_and_an_abort(tmp_path: Path) -> None:
    assert shutil.which("tmux"), "tmux is needed (.ci/run installs it from Debian's packages)"
    session = f"rd-{os.getpid()}"
    env_prefix = f"DRILLS_STATE={tmp_path / 'state'} DRILLS_HISTORY={tmp_path / 'h.sqlite'}"
    cmd = (f"cd {ROOT} && env -u COLUMNS -u LINES {env_prefix} {sys.executable} -m runner.cli gameday {GAMEDAY} --pace 5 "
           f"--report-dir {tmp_path / 'reports'}; echo EXITED=$? > {tmp_path / 'exit'}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", cmd], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout

    try:
        wait_until(lambda: "press [s] to start" in screen(), 30, "the start prompt")
        assert "A developer" in screen()  # the briefing
        subprocess.run(["tmux", "send-keys", "-t", session, "s"], check=True)
        wait_until(lambda: "pod-waiting" in screen(), 60, "the detection on the console")
        assert "detect: 2.942 s / 120 s" in screen()
        subprocess.run(["tmux", "send-keys", "-t", session, "n"], check=True)
        wait_until(lambda: "note: " in screen(), 10, "the note prompt")
        subprocess.run(["tmux", "send-keys", "-t", session, "-l", "team is looking at pods"], check=True)
        subprocess.run(["tmux", "send-keys", "-t", session, "Enter"], check=True)
        wait_until(lambda: "facilitator noted: team is looking at pods" in screen(), 10, "the note in the people panel")
        subprocess.run(["tmux", "send-keys", "-t", session, "a"], check=True)
        wait_until(lambda: (tmp_path / "exit").exists(), 60, "the console to exit after the abort")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert (tmp_path / "exit").read_text().strip() == "EXITED=1"  # aborted is not passed
    [folder] = list((tmp_path / "reports").iterdir())
    d = json.loads((folder / "results.json").read_text())["drills"][0]
    assert d["outcome"] == "aborted" and d["restore"]["status"] == "repaired"
    assert "facilitator noted: team is looking at pods" in d["human"]["notes"]
    review = (folder / "gameday-bad-image-tag.md").read_text()
    assert "## Game day review" in review and "team is looking at pods" in review
