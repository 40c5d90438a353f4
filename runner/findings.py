"""What to improve, derived from the timeline and the verdict: the part of a retrospective a
team would otherwise argue about from memory. Pure; each rule says what it saw and what to try.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.kinds import InjectVia, Outcome
from runner.timeline import EventKind

if TYPE_CHECKING:
    from runner.engine import DrillRun


@dataclass(frozen=True)
class Finding:
    title: str
    evidence: str
    suggestion: str


def derive(run: DrillRun) -> list[Finding]:
    out: list[Finding] = []
    spec = run.drill.spec
    tl = list(run.timeline)
    t0 = run.injected_at
    v = run.verdict
    if v is None or t0 is None:
        return out
    if v.outcome is Outcome.NOT_DETECTED:
        out.append(Finding(
            "Nothing detected the fault",
            f"no detection signal within {spec.detect.timeout.total_seconds():g} s of injection",
            "add a signal that fires on this failure (pod waiting reasons, Unhealthy events, app sync status)"))
        auto = next((e for e in tl if e.kind is EventKind.STATE_CHANGED and e.at >= t0
                     and "operation Running by automated" in e.message), None)
        if auto is not None and spec.fault.via is InjectVia.API:
            out.append(Finding(
                "Argo CD synced the fault away before anything detected it",
                f"an automated sync started {auto.at - t0:.1f} s after injection and put Git's version back",
                "automated sync (even without selfHeal) syncs once per Git commit: a commit anywhere in the repo "
                "since this app's last sync lets the next drift be reverted at once. To rehearse detection, "
                "run the drill right after a sync of HEAD, or accept that Argo CD is the control here"))
    det = run.detected_by or ""
    app_at_detection = (run.triage.application or {}) if run.triage else {}
    if run.detected_at is not None and det and not det.startswith("app-") and app_at_detection.get("health") == "Progressing":
        out.append(Finding(
            "Argo CD health lagged the failure",
            f"detected by {det} after {v.ttd_seconds:.1f} s while Argo CD still reported Progressing",
            "Argo CD marks a stuck Deployment Degraded only after progressDeadlineSeconds (600 s by default): "
            "alert on pod waiting reasons or Unhealthy events, or lower progressDeadlineSeconds"))
    rb = run.rollback
    if rb is not None and rb.finished_at is not None and run.recovered_at is not None:
        after_rollback = run.recovered_at - rb.finished_at
        syncs = [e for e in tl if e.kind is EventKind.STATE_CHANGED and "operation Running" in e.message and e.at >= rb.finished_at]
        if spec.fault.via is InjectVia.GIT and spec.fault.wait_for_poll and after_rollback > 30:
            out.append(Finding(
                "Recovery waited for Argo CD's Git polling",
                f"{after_rollback:.0f} s passed between the rollback commit and recovery",
                "configure a Git webhook to Argo CD (or request a refresh after each push): polling runs every 120-180 s"))
        if spec.rollback.strategy == "self-heal" and syncs and syncs[0].at - rb.finished_at > 1.5:
            out.append(Finding(
                "Self-heal was delayed by its back-off",
                f"the self-heal sync started {syncs[0].at - rb.finished_at:.1f} s after detection",
                "Argo CD backs off self-heal on the same commit (0, 2, 6, 18 ... s, reset only by a new sync): "
                "repeated drift on one commit heals ever slower; find who keeps changing the cluster"))
    available_false = [e for e in tl if e.kind is EventKind.STATE_CHANGED and "Available=False" in e.message]
    if spec.fault.type in ("image-tag", "readiness-path") and not available_false and run.detected_at is not None:
        out.append(Finding(
            "No outage: the old ReplicaSet kept serving",
            "the Deployment stayed Available while the new pods failed",
            "the rolling update's maxUnavailable rounds down to 0 for small replica counts; keep it that way and "
            "make sure a stuck rollout still pages someone"))
    if spec.fault.type == "delete-resource" and run.recovered_at is not None:
        out.append(Finding(
            "The object was gone until Argo CD recreated it",
            f"{spec.fault.params.kind}/{spec.fault.params.name} missing for about {v.ttr_seconds:.1f} s",  # type: ignore[union-attr]
            "clients of a deleted Service see connection errors for that window; restrict delete rights in this namespace"))
    if rb is not None and rb.error:
        out.append(Finding(
            f"The {spec.rollback.strategy} rollback failed",
            rb.error,
            "a rollback that fails during a drill fails during an incident too: fix it in the runbook before the next release"))
    if spec.rollback.strategy == "argocd-rollback" and rb is not None and not rb.error:
        out.append(Finding(
            "Auto-sync was off after the Argo CD rollback",
            "Git still pointed at the bad commit while the cluster ran the old revision (app OutOfSync)",
            "an Argo CD rollback is a stop-gap: follow it with a git revert, then turn auto-sync back on"))
    for exp in v.expectations:
        if not exp.met:
            actual = "never" if exp.actual_seconds is None else f"{exp.actual_seconds:.1f} s"
            out.append(Finding(f"Expectation missed: {exp.name}", f"{actual} against {exp.limit_seconds:g} s",
                               "either the system got slower or the expectation is unrealistic: compare with earlier runs"))
    if run.restore is not None and run.restore.actions:
        out.append(Finding("Restore had to repair the target",
                           "; ".join(run.restore.actions)[:300],
                           "the rollback alone did not bring the target back to its pre-drill state: check the runbook"))
    return out
