"""The engine on the simulated cluster: every fault x every rollback that applies, timed against
the simulator's own record of when things happened; preflight aborts inject nothing; restore
repairs what a rollback of `none` left broken."""
from __future__ import annotations

import json
from typing import Any

import pytest

from runner.clock import VirtualClock
from runner.engine import DrillRun, Engine
from runner.findings import derive
from runner.kinds import Outcome, RestoreStatus
from runner.model import Drill
from runner.observers import DrillObserver as DrillObserverForTest
from runner.signals import SignalContext
from runner.targets.sim.config import SimConfig
from runner.targets.base import ResourceRef
from runner.targets.sim.target import SimTarget
from runner.timeline import EventKind
from runner.view import ClusterView, Observation

from drillgen import EPOCH, MATRIX, ROOT, drill


def new_sim(seed: int = 7) -> SimTarget:
    return SimTarget(SimConfig(seed=seed, platform_config=ROOT / "kind" / "platform-config"), VirtualClock(start=EPOCH),
                     record_history=True)


def first_hold(sim: SimTarget, d: Drill, section: str, start: float, expected_revision: str | None,
               baseline_replicas: int, since: float) -> float | None:
    """Ground truth: replay the simulator's change log (no watch, no latency) and find the first
    change at or after ``start`` after which the drill's signals hold."""
    assert sim.kernel.history is not None
    spec = d.spec
    sigset = getattr(spec, section)
    ctx = SignalContext(namespace=spec.target.namespace, deployment=spec.target.deployment,
                        application=spec.target.application, since=since, baseline_replicas=baseline_replicas,
                        expected_revision=expected_revision)
    view = ClusterView()
    for at, etype, obj in sim.kernel.history:
        view.apply(Observation(at, etype, obj["kind"], obj))
        if at < start:
            continue
        hits = [e for e in sigset.signals if e.signal.evaluate(e.params, view, ctx)]
        if (sigset.mode == "any" and hits) or (sigset.mode == "all" and len(hits) == len(sigset.signals)):
            return at
    return None


@pytest.mark.parametrize(("fault", "via", "rollback", "env"), MATRIX, ids=["-".join(m) for m in MATRIX])
def test_fault_rollback_matrix(fault: str, via: str, rollback: str, env: str) -> None:
    sim = new_sim()
    d = drill(fault, via, rollback, env)
    git_before = {p: sim.git.read(p) for p in sim.git.files_at()}
    run = Engine(sim).run(d)
    assert run.verdict is not None
    assert run.verdict.outcome is Outcome.PASSED, (run.verdict, [(e.kind.value, e.message) for e in run.timeline])
    assert run.restore is not None and run.restore.status in (RestoreStatus.CLEAN, RestoreStatus.REPAIRED)
    # restore leaves no trace: Git content, release values, Deployment spec
    assert {p: sim.git.read(p) for p in sim.git.files_at()} == git_before
    assert run.injected_at is not None and run.detected_at is not None and run.recovered_at is not None
    latency = sim.config.controllers.watch_latency
    dep = sim.api.get(ResourceRef("Deployment", d.spec.target.namespace, d.spec.target.deployment))
    assert dep is not None and dep["spec"]["replicas"] == _baseline_replicas(env)
    # TTD and TTR against the simulator's own change log, to the millisecond: every time the runner
    # measured is when the change it saw was made, plus the watch's delivery latency
    assert run.inject_started_at is not None
    if via != "git":
        landed = first_landing(sim, d, run.inject_started_at)
        assert abs(run.injected_at - (landed + latency)) < 1e-3
    truth_detect = first_hold(sim, d, "detect", run.inject_started_at, None, _baseline_replicas(env),
                              since=run.inject_started_at)
    assert truth_detect is not None
    assert abs(run.detected_at - (truth_detect + latency)) < 1e-3
    assert run.rollback is not None
    truth_recover = first_hold(sim, d, "recover", run.rollback.started_at, _expected_revision(run, sim),
                               _baseline_replicas(env), since=run.inject_started_at)
    assert truth_recover is not None
    assert abs(run.recovered_at - (truth_recover + latency)) < 1e-3
    assert run.verdict.ttd_seconds == pytest.approx(run.detected_at - run.injected_at)


def first_landing(sim: SimTarget, d: Drill, start: float) -> float:
    """When the injected change was written to the simulated API (deployment spec or deletion)."""
    assert sim.kernel.history is not None
    for at, etype, obj in sim.kernel.history:
        if at < start:
            continue
        md = obj["metadata"]
        if d.spec.fault.type == "delete-resource":
            if etype == "DELETED" and obj["kind"] == "Service" and md["name"] == "week6-api":
                return at
        elif obj["kind"] == "Deployment" and etype == "MODIFIED" and md["namespace"] == d.spec.target.namespace \
                and md.get("generation", 1) > 1 and _gen_changed(sim, obj, at):
            return at
    raise AssertionError("injection not found in the change log")


def _gen_changed(sim: SimTarget, obj: dict, at: float) -> bool:
    assert sim.kernel.history is not None
    earlier = [o for t, e, o in sim.kernel.history if t < at and o["kind"] == "Deployment"
               and o["metadata"]["namespace"] == obj["metadata"]["namespace"]]
    return not earlier or earlier[-1]["metadata"].get("generation") != obj["metadata"].get("generation")


def _baseline_replicas(env: str) -> int:
    return {"dev": 1, "stage": 2, "prod": 3, "sandbox": 1}[env]


def _expected_revision(run: DrillRun, sim: SimTarget) -> str | None:
    """The Git revision ``app-sync: Synced`` must report during recovery."""
    spec = run.drill.spec
    if not spec.target.application:
        return None
    if spec.fault.via.value == "git" and run.rollback and run.rollback.strategy == "git-revert":
        sha12 = run.rollback.notes[0].split()[-1]
        return next(c.sha for c in sim.git.commits if c.sha.startswith(sha12))
    return None  # the drill did not change Git: any revision the app is Synced at


def test_bad_image_timing_is_what_the_modelled_controllers_add_up_to() -> None:
    sim = new_sim()
    run = Engine(sim).run(drill("image-tag", "git", "git-revert", "dev"))
    cfg = sim.config
    # refresh -> comparison -> auto-sync -> deployment/replicaset/scheduler -> kubelet pull failure -> status
    floor = (cfg.argocd.refresh_seconds + cfg.argocd.operation_start_seconds * 0 + cfg.argocd.sync_seconds
             + cfg.kubelet.image_pull_fail_seconds)
    assert run.verdict and run.verdict.ttd_seconds is not None
    assert floor < run.verdict.ttd_seconds < floor + 0.5
    first_wait = next(t for t in sim.transitions if t.what == "pod-waiting" and t.at >= (run.injected_at or 0))
    assert first_wait.detail == "ErrImagePull"


def test_preflight_abort_injects_nothing() -> None:
    sim = new_sim()
    # someone scaled stage by hand and stage has no self-heal: the app is OutOfSync
    sim.api.scale(ResourceRef("Deployment", "stage", "week6-api"), 3)
    sim.advance(5)
    head, rss = sim.git.head(), len(sim.kernel.list("ReplicaSet", "stage"))
    run = Engine(sim).run(drill("image-tag", "api", "rollout-undo", "stage"))
    assert run.verdict and run.verdict.outcome is Outcome.ABORTED
    assert "steady state does not hold" in (run.aborted or "") and "OutOfSync" in (run.aborted or "")
    assert run.injection is None and run.restore is None
    assert not any(e.kind is EventKind.FAULT_INJECTED for e in run.timeline)
    assert sim.git.head() == head and len(sim.kernel.list("ReplicaSet", "stage")) == rss
    dep = sim.api.get(ResourceRef("Deployment", "stage", "week6-api"))
    assert dep and dep["spec"]["template"]["spec"]["containers"][0]["image"] == "week6-api:stage-latest"


def test_preflight_abort_on_missing_deployment_and_rollback_preconditions() -> None:
    sim = new_sim()
    d = drill("image-tag", "api", "rollout-undo", "dev")  # dev has selfHeal: it would undo the undo
    run = Engine(sim).run(d)
    assert run.verdict and run.verdict.outcome is Outcome.ABORTED and "self-heal is on" in (run.aborted or "")
    d2 = drill("replica-drift", "api", "self-heal", "stage")  # stage has no selfHeal
    run2 = Engine(sim).run(d2)
    assert run2.verdict and run2.verdict.outcome is Outcome.ABORTED and "selfHeal" in (run2.aborted or "")


def test_restore_repairs_what_rollback_none_left_broken() -> None:
    sim = new_sim()
    values_before = sim.git.read("apps/week6-api/values-dev.yaml")
    dep_before = sim.api.get(ResourceRef("Deployment", "dev", "week6-api"))
    assert dep_before is not None
    run = Engine(sim).run(drill("image-tag", "git", "none", "dev", recover_timeout="120s"))
    assert run.verdict and run.verdict.outcome is Outcome.NOT_RECOVERED
    assert run.restore and run.restore.status is RestoreStatus.REPAIRED
    assert any(a.startswith("git revert --no-edit") for a in run.restore.actions)
    assert sim.git.read("apps/week6-api/values-dev.yaml") == values_before
    dep = sim.api.get(ResourceRef("Deployment", "dev", "week6-api"))
    assert dep and dep["spec"]["template"] == dep_before["spec"]["template"]
    app = sim.api.get(ResourceRef("Application", "argocd", "week6-api-dev"))
    assert app and app["status"]["sync"]["status"] == "Synced" and app["status"]["health"]["status"] == "Healthy"


def test_restore_recreates_a_deleted_service_without_self_heal() -> None:
    sim = new_sim()
    run = Engine(sim).run(drill("delete-resource", "api", "none", "stage", recover_timeout="60s",
                                recover=[{"resource-present": {"kind": "Service", "name": "week6-api"}}]))
    assert run.verdict and run.verdict.outcome is Outcome.NOT_RECOVERED
    assert run.restore and run.restore.status is RestoreStatus.REPAIRED
    assert sim.api.get(ResourceRef("Service", "stage", "week6-api")) is not None
    assert "deleted-service" not in json.dumps(run.restore.manual_commands)


def test_same_seed_same_run() -> None:
    a = Engine(new_sim(seed=3), run_ids=lambda n: n).run(drill("readiness-path", "helm", "helm-rollback", "sandbox"))
    b = Engine(new_sim(seed=3), run_ids=lambda n: n).run(drill("readiness-path", "helm", "helm-rollback", "sandbox"))
    assert [(e.at, e.message) for e in a.timeline] == [(e.at, e.message) for e in b.timeline]


def test_self_heal_backoff_slows_repeated_drift_on_one_commit() -> None:
    sim = new_sim()
    eng = Engine(sim)
    ttrs = [eng.run(drill("replica-drift", "api", "self-heal", "dev", name=f"drift-{i}")).verdict.ttr_seconds  # type: ignore[union-attr]
            for i in range(3)]
    assert all(t is not None for t in ttrs)
    # Argo CD's self-heal back-off: 0 s, then 2 s, then 6 s after the previous sync finished
    assert ttrs[0] < ttrs[1] < ttrs[2]  # type: ignore[operator]


def test_detection_timeout_gives_not_detected_and_still_restores() -> None:
    sim = new_sim()
    d = drill("image-tag", "git", "git-revert", "dev", detect=[{"app-health": "Degraded"}], detect_timeout="30s")
    run = Engine(sim).run(d)
    assert run.verdict and run.verdict.outcome is Outcome.NOT_DETECTED
    assert run.restore and run.restore.status in (RestoreStatus.CLEAN, RestoreStatus.REPAIRED)
    assert any(e.kind is EventKind.DETECTION_TIMED_OUT for e in run.timeline)


def test_missed_expectation_is_failed() -> None:
    sim = new_sim()
    run = Engine(sim).run(drill("image-tag", "git", "git-revert", "dev", expect={"detect-within": "1s"}))
    assert run.verdict and run.verdict.outcome is Outcome.FAILED
    assert [e.name for e in run.verdict.expectations if not e.met] == ["detect-within"]


def test_a_human_editing_the_application_aborts_the_drill_without_a_fight() -> None:
    sim = new_sim()
    d = drill("image-tag", "git", "git-revert", "stage", detect=[{"app-health": "Degraded"}], detect_timeout="120s")
    app_ref = ResourceRef("Application", "argocd", "week6-api-stage")

    def someone_edits() -> None:  # 20 s into the drill a colleague pins the app to a release branch
        sim.api.merge_patch(app_ref, {"spec": {"source": {"targetRevision": "release-1"}}})

    class At(DrillObserverForTest):
        def event_recorded(self, run: DrillRun, event: Any) -> None:
            if event.kind is EventKind.FAULT_INJECTED:
                sim.kernel.schedule(20.0, someone_edits)

    run = Engine(sim, [At()]).run(d)
    assert run.verdict and run.verdict.outcome is Outcome.ABORTED
    assert "changed by someone else" in (run.aborted or "") and "spec.source" in (run.aborted or "")
    app = sim.api.get(app_ref)
    assert app and app["spec"]["source"]["targetRevision"] == "release-1"  # the human's change stays
    assert run.restore and "git revert" in " ".join(run.restore.actions)  # what the drill changed is undone


def test_a_leftover_event_of_an_earlier_drill_does_not_count_again() -> None:
    sim = new_sim()
    eng = Engine(sim)
    first = eng.run(drill("readiness-path", "helm", "helm-rollback", "sandbox", name="first"))
    second = eng.run(drill("readiness-path", "helm", "helm-rollback", "sandbox", name="second"))
    assert first.verdict and first.verdict.outcome is Outcome.PASSED
    assert second.verdict and second.verdict.outcome is Outcome.PASSED, second.aborted
    assert second.verdict.ttd_seconds == pytest.approx(first.verdict.ttd_seconds, abs=0.1)


def test_after_an_argocd_rollback_the_next_drift_is_not_synced_away() -> None:
    sim = new_sim()
    eng = Engine(sim)
    assert eng.run(drill("image-tag", "git", "argocd-rollback", "stage")).verdict.outcome is Outcome.PASSED  # type: ignore[union-attr]
    app = sim.api.get(ResourceRef("Application", "argocd", "week6-api-stage"))
    assert app and app["status"]["operationState"]["syncResult"]["revision"] == app["status"]["sync"]["revision"]
    nxt = eng.run(drill("image-tag", "api", "rollout-undo", "stage"))
    assert nxt.verdict and nxt.verdict.outcome is Outcome.PASSED, [(e.kind.value, e.message) for e in nxt.timeline]


def _controller_races_the_rollback(sim: SimTarget, times: int) -> list[str]:
    """Argo CD's controller writes the Application's status between the runner's read and its
    guarded write (what happened on the real control plane): each write bumps resourceVersion."""
    real = sim.api.merge_patch
    bumps: list[str] = []

    def racing(ref: ResourceRef, patch: dict, resource_version: str | None = None) -> dict:
        if resource_version is not None and ref.kind == "Application" and len(bumps) < times:
            bumps.append(real(ref, {"status": {"reconciledAt": f"2026-12-04T00:00:0{len(bumps)}Z"}})["metadata"]["resourceVersion"])
        return real(ref, patch, resource_version)
    sim.api.merge_patch = racing  # type: ignore[method-assign]
    return bumps


def test_argocd_rollback_rereads_and_retries_on_a_409_conflict() -> None:
    sim = new_sim()
    bumps = _controller_races_the_rollback(sim, times=2)
    run = Engine(sim).run(drill("image-tag", "git", "argocd-rollback", "stage"))
    assert run.verdict and run.verdict.outcome is Outcome.PASSED, run.rollback and run.rollback.error
    assert len(bumps) == 2
    retries = [e for e in run.timeline if e.kind is EventKind.ROLLBACK_STEP and "409 Conflict" in e.message]
    assert len(retries) == 2
    assert run.rollback and run.rollback.error is None
    assert any("argocd app rollback week6-api-stage" in c for c in run.rollback.commands)


def test_argocd_rollback_gives_up_on_endless_conflicts_and_restore_still_repairs() -> None:
    sim = new_sim()
    _controller_races_the_rollback(sim, times=1000)
    run = Engine(sim).run(drill("image-tag", "git", "argocd-rollback", "stage"))
    assert run.verdict and run.verdict.outcome is not Outcome.PASSED
    assert run.rollback and "kept changing under the rollback (5 conflicts)" in (run.rollback.error or "")
    assert run.restore and run.restore.status in (RestoreStatus.CLEAN, RestoreStatus.REPAIRED)
    app = sim.api.get(ResourceRef("Application", "argocd", "week6-api-stage"))
    assert app and app["spec"]["syncPolicy"].get("automated") is not None  # auto-sync is back on
    titles = [f.title for f in derive(run)]
    assert "The argocd-rollback rollback failed" in titles
    assert "Auto-sync was off after the Argo CD rollback" not in titles  # it never got that far


def test_a_commit_elsewhere_in_the_repo_lets_auto_sync_revert_an_api_drift_and_the_review_says_so() -> None:
    # Argo CD syncs automatically once per commit: the dev drill's revert commit moves HEAD, stage
    # (automated, no selfHeal) has not synced that commit yet, so its next drift is synced away.
    sim = new_sim()
    eng = Engine(sim)
    assert eng.run(drill("readiness-path", "git", "git-revert", "dev")).verdict.outcome is Outcome.PASSED  # type: ignore[union-attr]
    run = eng.run(drill("readiness-path", "api", "rollout-undo", "stage"))
    assert run.verdict and run.verdict.outcome is Outcome.NOT_DETECTED
    [finding] = [f for f in derive(run) if f.title == "Argo CD synced the fault away before anything detected it"]
    assert "automated sync started" in finding.evidence
    fresh = Engine(new_sim()).run(drill("readiness-path", "api", "rollout-undo", "stage"))
    assert fresh.verdict and fresh.verdict.outcome is Outcome.PASSED  # the same drill on a freshly synced app
    assert "Argo CD synced the fault away before anything detected it" not in [f.title for f in derive(fresh)]
