"""Never leave a cluster broken: SIGKILL right after injection, then `drills recover` restores
exactly; SIGTERM makes the runner restore before exiting; an open journal record refuses new
drills on the target; an apiserver restart mid-drill is survived."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubehelp import drill_yaml, install_release, targets_file

from runner import loader
from runner.engine import Engine
from runner.journal import Journal
from runner.kinds import Outcome, RestoreStatus
from runner.observers import DrillObserver
from runner.targets.base import ResourceRef
from runner.targets.kube import KubeTarget
from runner.timeline import EventKind

pytestmark = pytest.mark.controlplane
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "kind/platform-config/apps/week6-api"


@pytest.fixture(scope="module")
def env(controlplane: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ns = f"cr-{uuid.uuid4().hex[:6]}"
    install_release(controlplane, ns)
    tmp = tmp_path_factory.mktemp("crash")
    tf = targets_file(tmp / "targets.yaml", controlplane, [ns], charts={f"{ns}/week6-api": str(CHART)})
    return {"ns": ns, "targets": tf, "tmp": tmp, "journal": tmp / "journal"}


def kube(env: dict[str, Any]) -> KubeTarget:
    f = loader.load_file(env["targets"]).documents[0].model
    return KubeTarget("plane", f.spec.targets["plane"], config_path=env["targets"])


def snapshot(env: dict[str, Any]) -> dict[str, Any]:
    t = kube(env)
    try:
        dep = t.api.get(ResourceRef("Deployment", env["ns"], "week6-api"))
        assert dep is not None
        return {"template": dep["spec"]["template"], "replicas": dep["spec"]["replicas"],
                "values": t.helm.values("week6-api", env["ns"]),
                "service": t.api.get(ResourceRef("Service", env["ns"], "week6-api")) is not None}
    finally:
        t.close()


def drill_file(env: dict[str, Any], name: str, fault: dict[str, Any], detect: list[dict[str, Any]], rollback: str,
               recover_timeout: str = "120s") -> Path:
    p = env["tmp"] / f"{name}.yaml"
    p.write_text(drill_yaml(name, env["ns"], fault, detect, rollback, [{"deployment-available": {}}],
                            recover_timeout=recover_timeout))
    return p


def start_runner(env: dict[str, Any], drill: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runner.cli", "run", str(drill), "--target", "plane",
                             "--targets", str(env["targets"]), "--journal-dir", str(env["journal"]), "--no-report",
                             "--history", str(env["tmp"] / "history.sqlite"), *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Read the runner's output until a line contains ``needle`` (the runner prints as it goes)."""
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed:\n{''.join(seen)}")


def cli(env: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner.cli", *args, "--targets", str(env["targets"]),
                           "--journal-dir", str(env["journal"])], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_sigkill_after_injection_then_recover_restores_exactly(env: dict[str, Any]) -> None:
    before = snapshot(env)
    d = drill_file(env, "killed", {"type": "readiness-path", "via": "helm", "params": {"path": "/killed"}},
                   [{"event": {"reason": "Unhealthy"}}], "helm-rollback")
    proc = start_runner(env, d)
    wait_for(proc, "FaultInjected")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert snapshot(env)["values"] != before["values"]  # the fault is in place, nobody undid it
    [entry] = Journal(env["journal"], "plane").entries()
    assert entry.drill_name == "killed" and entry.data["injection"]["helm_revision"]
    # a new drill on that target is refused while the record is open
    again = cli(env, "run", str(d), "--target", "plane", "--no-report")
    assert again.returncode == 2 and "unfinished drill" in again.stderr and "drills recover --target plane" in again.stderr
    rec = cli(env, "recover", "--target", "plane")
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert "helm rollback week6-api" in rec.stdout
    assert snapshot(env) == before
    assert Journal(env["journal"], "plane").entries() == []
    assert cli(env, "recover").stdout.strip() == "nothing to recover: no unfinished drills in the journal"


def test_sigterm_restores_before_exiting(env: dict[str, Any]) -> None:
    before = snapshot(env)
    d = drill_file(env, "termed", {"type": "image-tag", "via": "api", "params": {"tag": "termed-1"}},
                   [{"event": {"reason": "NeverHappens"}}], "rollout-undo")
    proc = start_runner(env, d)
    wait_for(proc, "FaultInjected")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, out  # aborted is not passed
    assert "DrillAborted" in out and "RestoreRepaired" in out
    assert snapshot(env) == before
    assert Journal(env["journal"], "plane").entries() == []


class _RestartApiserver(DrillObserver):
    def __init__(self, cp: Any) -> None:
        self.cp = cp
        self.done = threading.Event()

    def event_recorded(self, run: Any, event: Any) -> None:
        if event.kind is EventKind.FAULT_INJECTED and not self.done.is_set():
            self.cp.restart("kube-apiserver")
            self.done.set()


def test_apiserver_restart_mid_drill(controlplane: Any, env: dict[str, Any]) -> None:
    before = snapshot(env)
    t = kube(env)
    d = loader.load_text(drill_yaml("restart", env["ns"], {"type": "image-tag", "via": "api", "params": {"tag": "restart-1"}},
                                    [{"pod-waiting": {}}], "rollout-undo", [{"deployment-available": {}}]), "x.yaml")
    obs = _RestartApiserver(controlplane)
    run = Engine(t, [obs], journal=Journal(env["journal"], "plane")).run(d.documents[0].model)
    t.close()
    assert obs.done.is_set()
    assert run.verdict and run.verdict.outcome is Outcome.PASSED, [(e.kind.value, e.message) for e in run.timeline]
    assert run.restore and run.restore.status in (RestoreStatus.CLEAN, RestoreStatus.REPAIRED)
    assert snapshot(env) == before
