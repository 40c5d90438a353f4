"""The drill engine: preflight -> inject -> detect -> rollback -> recover -> restore.

It knows no fault or rollback in particular (they come from their registries) and no target in
particular (only the ``Target`` ports). Detection and recovery are timed by the arrival of watch
observations on the target's clock; the engine never sleeps: waiting is ``watch.next(deadline)``.
Restore runs on every exit path once a baseline exists, including Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from runner import argocd, faults, restore as restore_mod, rollbacks, triage
from runner.context import Baseline, DrillContext, InjectionRecord, RollbackRecord
from runner.errors import (DrillAborted, FaultInjectionError, PreflightFailed, RollbackError, TargetError)
from runner.findings import Finding, derive
from runner.humans import KIND as HUMAN_KIND, HumanAction, HumanInbox
from runner.journal import Journal
from runner.kinds import Outcome, Phase, RestoreStatus
from runner.model import Drill, SignalEntry
from runner.observers import DrillObserver, Observers
from runner.restore import RestoreResult
from runner.settings import EngineSettings
from runner.signals import Match, SignalContext
from runner.targets.base import Target, TargetInfo, Watch, WatchScope
from runner.timeline import EventKind, Timeline
from runner.triage import Triage
from runner.verdict import Measurements, Verdict, evaluate
from runner.view import ClusterView, Observation, _older

log = logging.getLogger(__name__)

BASE_KINDS = frozenset({"Pod", "Deployment", "ReplicaSet", "Event", "Service", "EndpointSlice"})


@dataclass
class DrillRun:
    """One execution of one drill: everything the reports need."""

    drill: Drill
    source: str
    target: TargetInfo
    run_id: str
    timeline: Timeline
    injection: InjectionRecord | None = None
    rollback: RollbackRecord | None = None
    inject_started_at: float | None = None
    """When the injection call began: anything observed from then on counts as after injection."""
    injected_at: float | None = None
    """When the change reached the cluster: the arrival of the watch event showing it (API and
    Helm injections), or the end of the push (Git). TTD and TTR count from here."""
    injection_landed: bool = False
    hint_shown: bool = False
    max_duration_reached: bool = False
    detected_at: float | None = None
    detected_by: str | None = None
    detection_match: Match | None = None
    recovered_at: float | None = None
    recovered_by: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    restore: RestoreResult | None = None
    triage: Triage | None = None
    findings: list[Finding] = field(default_factory=list)
    saved_manifests: dict[str, dict[str, object]] = field(default_factory=dict)
    phase: Phase = Phase.PREFLIGHT
    aborted: str | None = None
    error: str | None = None
    context: Any = None
    """The run's DrillContext, for observers that act inside the drill (scripted responders)."""

    @property
    def needs_manual_repair(self) -> bool:
        return self.restore is not None and self.restore.status is RestoreStatus.NEEDS_MANUAL_REPAIR


def watch_scope(drill: Drill) -> WatchScope:
    """Everything a drill's signals, fault and restore need watched."""
    spec = drill.spec
    kinds = set(BASE_KINDS) | set(faults.get(spec.fault.type).extra_watch_kinds(spec.fault.params))
    for entry in spec.detect.signals + spec.recover.signals:
        kinds |= set(entry.signal.watches)
        if entry.signal_name.startswith("resource-"):
            kinds.add(entry.params.kind)
    return WatchScope(namespace=spec.target.namespace, kinds=frozenset(kinds), application=spec.target.application,
                      argocd_namespace=spec.target.argocd_namespace)


class Engine:
    """Runs drills against one target.

    Args:
        target: where the drills run (its clock times everything).
        observers: console, metrics, reports; hooks never break a drill.
        settings: timeouts of the phases the drill file does not set.
    """

    def __init__(self, target: Target, observers: Sequence[DrillObserver] = (), settings: EngineSettings | None = None,
                 run_ids: Callable[[str], str] | None = None, journal: Journal | None = None,
                 inbox: HumanInbox | None = None) -> None:
        self.journal = journal
        self.inbox = inbox
        self.run_ids = run_ids or (lambda name: f"{name}-{uuid.uuid4().hex[:8]}")
        self.target = target
        self.clock = target.clock
        self.observers = Observers(observers)
        self.settings = settings or EngineSettings()

    # --- public -----------------------------------------------------------------------------

    def run(self, drill: Drill, source: str = "") -> DrillRun:
        run_box: list[DrillRun] = []
        timeline = Timeline(self.clock, on_record=lambda ev: run_box and self.observers.event_recorded(run_box[0], ev))
        run = DrillRun(drill=drill, source=source, target=self.target.info,
                       run_id=self.run_ids(drill.metadata.name), timeline=timeline)
        run_box.append(run)
        ctx = DrillContext(drill=drill, target=self.target, timeline=timeline, view=ClusterView())
        run.context = ctx
        self.observers.drill_started(run)
        watch: Watch | None = None
        attempted = False
        try:
            watch = self._preflight(run, ctx)
            attempted = True
            self._inject(run, ctx)
            self._detect(run, ctx, watch)
            self._rollback(run, ctx, watch)
            self._recover(run, ctx, watch)
        except PreflightFailed as exc:
            run.aborted = f"preflight failed: {exc}"
            timeline.record(EventKind.PREFLIGHT_FAILED, str(exc), phase=Phase.PREFLIGHT)
        except (KeyboardInterrupt, DrillAborted) as exc:
            run.aborted = f"interrupted during {run.phase.value}" + (f": {exc}" if str(exc) else "")
            timeline.record(EventKind.DRILL_ABORTED, run.aborted, phase=run.phase)
        except (FaultInjectionError, TargetError, LookupError, ValueError) as exc:
            # the target or the fault failed us; what was changed (if anything) is restored below
            run.error = f"{type(exc).__name__}: {exc}"
            timeline.record(EventKind.DRILL_ERRORED, run.error, phase=run.phase)
            log.warning("drill %s: %s", drill.metadata.name, run.error)
        finally:
            if attempted and watch is not None:
                self._restore(run, ctx, watch)
            if self.inbox is not None:
                self.inbox.detach()
            if watch is not None:
                watch.close()
        run.verdict = evaluate(
            Measurements(run.injected_at, run.detected_at, run.recovered_at, run.aborted, run.error),
            drill.spec.expect.detect_within, drill.spec.expect.recover_within)
        if run.max_duration_reached and run.verdict.outcome in (Outcome.NOT_DETECTED, Outcome.NOT_RECOVERED):
            run.verdict = dataclasses.replace(run.verdict, reason=run.verdict.reason + "; max-duration reached, the runner "
                                              "restored the target itself")
        run.findings = derive(run)
        run.phase = Phase.REPORT
        self.observers.drill_finished(run)
        return run

    def plan(self, drill: Drill) -> tuple[DrillRun, list[object]]:
        """Dry run: preflight and injection with every write recorded as a diff, nothing changed.

        ``self.target`` must be a ``runner.dryrun.DryRunTarget``; returns the run (aborted if
        preflight failed) and the recorded changes.
        """
        timeline = Timeline(self.clock)
        run = DrillRun(drill=drill, source="", target=self.target.info, run_id=self.run_ids(drill.metadata.name),
                       timeline=timeline)
        ctx = DrillContext(drill=drill, target=self.target, timeline=timeline, view=ClusterView())
        watch: Watch | None = None
        try:
            watch = self._preflight(run, ctx)
            self._inject(run, ctx)
        except PreflightFailed as exc:
            run.aborted = f"preflight failed: {exc}"
        except (FaultInjectionError, TargetError, LookupError, ValueError) as exc:
            run.error = f"{type(exc).__name__}: {exc}"
        finally:
            if watch is not None:
                watch.close()
        return run, list(getattr(self.target, "changes", []))

    # --- phases -----------------------------------------------------------------------------

    def _enter(self, run: DrillRun, ctx: DrillContext, phase: Phase) -> None:
        run.phase = ctx.phase = phase
        self.observers.phase_started(run, phase)

    def _signal_context(self, ctx: DrillContext, since: float) -> SignalContext:
        t = ctx.drill.spec.target
        return SignalContext(namespace=t.namespace, deployment=t.deployment, application=t.application,
                             argocd_namespace=t.argocd_namespace, since=since,
                             baseline_replicas=ctx.baseline.replicas if ctx.baseline else None,
                             expected_revision=ctx.expected_revision)

    def _preflight(self, run: DrillRun, ctx: DrillContext) -> Watch:
        self._enter(run, ctx, Phase.PREFLIGHT)
        spec = ctx.drill.spec
        api = self.target.api
        if ctx.app_ref is not None:
            ctx.app = api.get(ctx.app_ref)
            if ctx.app is None:
                raise PreflightFailed(f"Argo CD Application {ctx.app_ref.namespace}/{ctx.app_ref.name} not found")
            try:
                src = argocd.source(ctx.app)
            except ValueError as exc:
                raise PreflightFailed(str(exc)) from exc
            ctx.gitops = self.target.gitops_for(src.repo_url)
            if ctx.gitops is None and spec.fault.via.value == "git":
                raise PreflightFailed(f"this target cannot reach the GitOps repository {src.repo_url}")
        dep = api.get(ctx.deployment_ref)
        if dep is None:
            raise PreflightFailed(f"Deployment {ctx.namespace}/{ctx.deployment_ref.name} not found")
        watch = self.target.watch(watch_scope(ctx.drill))
        if self.inbox is not None:
            self.inbox.attach(run.run_id, watch)
        now = self.clock.monotonic()
        self._drain(ctx, watch, now)
        # app-sync: Synced asks for a particular Git revision only once the drill changed Git (a
        # commit elsewhere in the repository moves HEAD without a new sync of this app)
        ctx.expected_revision = None
        steady = self._steady_state_problems(ctx)
        if steady:
            deadline = now + self.settings.preflight_timeout
            while steady:
                obs = watch.next(deadline)
                if obs is None:
                    watch.close()
                    raise PreflightFailed("steady state does not hold: " + "; ".join(steady))
                ctx.view.apply(obs)
                steady = self._steady_state_problems(ctx)
        ctx.baseline = self._capture(ctx)
        ctx.view.mark_baseline()
        if ctx.app is not None:
            ctx.app_specs.append(ctx.app.get("spec") or {})
        sctx = self._signal_context(ctx, since=self.clock.monotonic())
        already = [e.describe() for e in spec.detect.signals if e.signal.evaluate(e.params, ctx.view, sctx)]
        if spec.detect.mode == "any" and already:
            watch.close()
            raise PreflightFailed("a detection signal already holds before injection: " + ", ".join(already))
        reason = rollbacks.get(spec.rollback.strategy).preflight(ctx)
        if reason:
            watch.close()
            raise PreflightFailed(reason)
        try:
            faults.get(spec.fault.type).capture(ctx)
        except FaultInjectionError as exc:
            watch.close()
            raise PreflightFailed(str(exc)) from exc
        ctx.note(EventKind.PREFLIGHT_PASSED, "steady state holds: deployment rolled out"
                 + (", application Synced and Healthy" if ctx.app_ref else ""))
        b = ctx.baseline
        ctx.note(EventKind.BASELINE_CAPTURED, f"baseline: replicas {b.replicas}, deployment revision {b.deployment_revision}"
                 + (f", git {b.git_head[:12]}" if b.git_head else "") + (f", helm revision {b.helm_revision}" if b.helm_revision else "")
                 + (f", argocd history id {b.app_history_id}" if b.app_history_id is not None else ""))
        return watch

    def _drain(self, ctx: DrillContext, watch: Watch, until: float) -> None:
        while (obs := watch.next(until)) is not None:
            ctx.view.apply(obs)

    def _steady_state_problems(self, ctx: DrillContext) -> list[str]:
        from runner.view import rollout_complete

        problems = []
        dep = ctx.view.get("Deployment", ctx.namespace, ctx.deployment_ref.name)
        if dep is None:
            problems.append("deployment not seen by the watch")
        else:
            done, why = rollout_complete(dep)
            if not done:
                problems.append(f"deployment not rolled out ({why})")
        if ctx.app_ref is not None:
            app = ctx.view.get("Application", ctx.app_ref.namespace, ctx.app_ref.name) or {}
            st = app.get("status") or {}
            sync, health = (st.get("sync") or {}).get("status"), (st.get("health") or {}).get("status")
            if sync != "Synced" or health != "Healthy":
                problems.append(f"application {ctx.app_ref.name} is {sync}/{health}, not Synced/Healthy")
            elif argocd.operation_in_progress(app):
                problems.append(f"application {ctx.app_ref.name} has an operation in progress")
        return problems

    def _capture(self, ctx: DrillContext) -> Baseline:
        api = self.target.api
        dep = api.get(ctx.deployment_ref)
        if dep is None:
            raise PreflightFailed("deployment disappeared during preflight")
        b = Baseline(deployment_template=dep["spec"]["template"], replicas=dep["spec"].get("replicas", 1),
                     deployment_generation=dep["metadata"].get("generation") or 0,
                     deployment_revision=(dep["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision"))
        if ctx.app is not None:
            app = api.get(ctx.app_ref) or ctx.app  # type: ignore[arg-type]
            ctx.app = app
            b.app_sync_policy = {"automated": argocd.automated(app)}
            hist = argocd.history(app)
            b.app_history_id = hist[-1]["id"] if hist else None
            b.app_revision = ((app.get("status") or {}).get("sync") or {}).get("revision")
            last = ((((app.get("status") or {}).get("operationState")) or {}).get("syncResult") or {}).get("revision")
            b.app_synced_at_head = bool(b.app_revision) and last == b.app_revision
            if ctx.gitops is not None:
                b.git_head = ctx.gitops.head()
                path = argocd.source(app).values_file
                content = ctx.gitops.read(path)
                if content is not None:
                    b.git_files[path] = content
        if ctx.drill.spec.target.release and self.target.helm is not None:
            hist = self.target.helm.history(ctx.release, ctx.namespace)
            if hist:
                b.helm_revision = hist[-1].revision
                b.helm_values = self.target.helm.values(ctx.release, ctx.namespace)
        return b

    def _inject(self, run: DrillRun, ctx: DrillContext) -> None:
        self._enter(run, ctx, Phase.INJECT)
        fault = faults.get(ctx.drill.spec.fault.type)
        if self.journal is not None and ctx.baseline is not None:
            # fsynced before anything changes: a crash from here on leaves an undo record
            self.journal.open(run.run_id, ctx.drill.model_dump(mode="json", by_alias=True, exclude_none=True), run.source, ctx.baseline,
                              str(self.clock.wall(self.clock.monotonic())))
        run.inject_started_at = self.clock.monotonic()
        record = fault.inject(ctx)
        ctx.injection = run.injection = record
        if self.journal is not None:
            self.journal.update(run.run_id, injection=record, phase="detect", expected_revision=ctx.expected_revision)
        run.injected_at = record.at  # until the watch shows the change landing (see _observe)
        for name, manifest in (ctx.baseline.resources.items() if ctx.baseline else []):
            run.saved_manifests[f"{name.replace('/', '-').lower()}.yaml"] = manifest
        ctx.timeline.record(EventKind.FAULT_INJECTED, record.description, at=record.at, phase=Phase.INJECT,
                            commands=record.commands)

    def _await(self, run: DrillRun, ctx: DrillContext, watch: Watch, entries: Sequence[SignalEntry], mode: str,
               deadline: float) -> tuple[float, list[tuple[SignalEntry, Match]]] | None:
        """Fold observations until the signals hold (any one, or all at once) or the deadline."""
        assert run.injected_at is not None

        def check() -> list[tuple[SignalEntry, Match]] | None:
            sctx = self._signal_context(ctx, since=run.inject_started_at or 0.0)
            hits = [(e, m) for e in entries if (m := e.signal.evaluate(e.params, ctx.view, sctx)) is not None]
            if (mode == "any" and hits) or (mode == "all" and len(hits) == len(entries)):
                return hits if mode == "all" else hits[:1]
            return None

        hits = check()
        if hits:
            return self.clock.monotonic(), hits
        gd = ctx.drill.spec.gameday
        hard_stop = run.injected_at + gd.max_duration.total_seconds() if gd and gd.max_duration else None
        while True:
            wake = deadline if hard_stop is None else min(deadline, hard_stop)
            hint_at = self._hint_due(run, ctx)
            obs = watch.next(wake if hint_at is None else min(wake, hint_at))
            if obs is None:
                now = self.clock.monotonic()
                if hint_at is not None and now >= hint_at:
                    self._show_hint(run, ctx)
                    continue
                if hard_stop is not None and now >= hard_stop:
                    run.max_duration_reached = True
                    ctx.timeline.record(EventKind.MAX_DURATION_REACHED,
                                        f"max-duration {gd.max_duration.total_seconds():g} s reached: the runner restores the "  # type: ignore[union-attr]
                                        "target now, whatever the team is doing", phase=ctx.phase)
                return None
            self._observe(run, ctx, obs)
            hits = check()
            if hits:
                return obs.at, hits

    def _hint_due(self, run: DrillRun, ctx: DrillContext) -> float | None:
        gd = ctx.drill.spec.gameday
        if gd is None or gd.hint_after is None or run.hint_shown or run.injected_at is None:
            return None
        return run.injected_at + gd.hint_after.total_seconds()

    def _show_hint(self, run: DrillRun, ctx: DrillContext) -> None:
        run.hint_shown = True
        gd = ctx.drill.spec.gameday
        ctx.timeline.record(EventKind.HINT_SHOWN, f"hint shown to the team: {gd.hint if gd else ''}", phase=ctx.phase)

    def _observe(self, run: DrillRun, ctx: DrillContext, obs: Observation) -> None:
        from runner.changes import describe

        if obs.kind == HUMAN_KIND:
            self._human(run, ctx, obs)
        if obs.kind == "Application" and ctx.app_specs and obs.type != "DELETED" \
                and not ctx.app_changed_by_someone and obs.obj.get("spec") not in ctx.app_specs \
                and not _older(obs.obj, ctx.view.get("Application", *obs.key[1:])):
            # someone else changed the Application during the drill: do not fight a human
            ctx.app_changed_by_someone = True
            last = ctx.app_specs[-1]
            fields = sorted(k for k in set(obs.obj.get("spec") or {}) | set(last)
                            if (obs.obj.get("spec") or {}).get(k) != last.get(k))
            ctx.view.apply(obs)
            msg = (f"Application {obs.key[2]} was changed by someone else during the drill (spec.{', spec.'.join(fields)}); "
                   "aborting without fighting it: restore undoes only what the drill changed")
            ctx.timeline.record(EventKind.NOTE, msg, at=obs.at, phase=ctx.phase, source="watch")
            raise DrillAborted(msg)
        before = ctx.view.apply(obs)
        if not run.injection_landed and run.inject_started_at is not None and obs.at >= run.inject_started_at \
                and faults.get(ctx.drill.spec.fault.type).landed(ctx, obs):
            run.injection_landed = True
            run.injected_at = obs.at
            ctx.timeline.record(EventKind.STATE_CHANGED, f"injection observed on the watch: {obs.kind.lower()}/"
                                f"{obs.obj['metadata'].get('name')} {obs.type}", at=obs.at, phase=ctx.phase, source="watch")
        notes = ctx.timeline.of(EventKind.STATE_CHANGED)
        if len(notes) >= self.settings.max_state_notes:
            return
        for message, api_time, precision in describe(obs, before):
            ctx.timeline.record(EventKind.STATE_CHANGED, message, at=obs.at, phase=ctx.phase, source="watch",
                                api_time=api_time, api_precision=precision)

    def _human(self, run: DrillRun, ctx: DrillContext, obs: Observation) -> None:
        ev = obs.obj
        action, by, note = ev.get("action"), ev.get("by", "someone"), ev.get("note", "")
        kinds = {HumanAction.ACK.value: EventKind.HUMAN_ACKNOWLEDGED, HumanAction.MITIGATED.value: EventKind.HUMAN_MITIGATED,
                 HumanAction.ACTION.value: EventKind.HUMAN_ACTED, HumanAction.NOTE.value: EventKind.HUMAN_NOTE,
                 HumanAction.HINT.value: EventKind.HINT_SHOWN}
        if action == HumanAction.ABORT.value:
            ctx.timeline.record(EventKind.DRILL_ABORTED, f"aborted by {by}" + (f": {note}" if note else ""), at=obs.at,
                                phase=ctx.phase, source=f"human:{by}")
            raise DrillAborted(f"aborted by {by}")
        if action in kinds:
            verb = {"ack": "acknowledged", "mitigated": "declared it mitigated", "action": "ran", "note": "noted", "hint": "hint"}[action]
            ctx.timeline.record(kinds[action], f"{by} {verb}" + (f": {note}" if note else ""), at=obs.at, phase=ctx.phase,
                                source=f"human:{by}", by=by, commands=ev.get("commands"))

    def _detect(self, run: DrillRun, ctx: DrillContext, watch: Watch) -> None:
        self._enter(run, ctx, Phase.DETECT)
        spec = ctx.drill.spec.detect
        assert run.injected_at is not None
        found = self._await(run, ctx, watch, spec.signals, spec.mode, run.injected_at + spec.timeout.total_seconds())
        app = (ctx.app_ref.namespace, ctx.app_ref.name) if ctx.app_ref else None
        if found is None:
            ctx.timeline.record(EventKind.DETECTION_TIMED_OUT, f"no detection signal within {spec.timeout.total_seconds():g} s",
                                phase=Phase.DETECT)
        else:
            at, hits = found
            run.detected_at = at
            entry, match = hits[0]
            run.detected_by = entry.describe()
            run.detection_match = match
            ctx.timeline.record(EventKind.DEGRADATION_DETECTED, f"{entry.describe()}: {match.subject} {match.detail}",
                                at=at, phase=Phase.DETECT, source="watch", api_time=match.api_time,
                                api_precision=match.api_precision if match.api_time else None)
        run.triage = triage.snapshot(ctx.view, ctx.namespace, ctx.deployment_ref.name, app, run.injected_at)

    def _rollback(self, run: DrillRun, ctx: DrillContext, watch: Watch) -> None:
        self._enter(run, ctx, Phase.ROLLBACK)
        spec = ctx.drill.spec.rollback
        if spec.delay.total_seconds() > 0:
            until = self.clock.monotonic() + spec.delay.total_seconds()
            while (obs := watch.next(until)) is not None:
                self._observe(run, ctx, obs)
        strategy = rollbacks.get(spec.strategy)
        record = RollbackRecord(strategy=spec.strategy, started_at=self.clock.monotonic())
        ctx.rollback = run.rollback = record
        ctx.timeline.record(EventKind.ROLLBACK_STARTED, f"rollback: {strategy.summary}", phase=Phase.ROLLBACK)
        try:
            strategy.execute(ctx, record)
        except (RollbackError, TargetError) as exc:
            record.error = str(exc)
            ctx.timeline.record(EventKind.ROLLBACK_FAILED, f"rollback failed: {exc}", phase=Phase.ROLLBACK)
        record.finished_at = self.clock.monotonic()
        if record.error is None:
            ctx.timeline.record(EventKind.ROLLBACK_FINISHED, "; ".join(record.notes) or "rollback done",
                                phase=Phase.ROLLBACK, commands=record.commands or None)

    def _recover(self, run: DrillRun, ctx: DrillContext, watch: Watch) -> None:
        self._enter(run, ctx, Phase.RECOVER)
        spec = ctx.drill.spec.recover
        assert run.injected_at is not None
        if run.rollback is not None and run.rollback.error is not None:
            ctx.timeline.record(EventKind.RECOVERY_TIMED_OUT, "not waiting for recovery: the rollback failed",
                                phase=Phase.RECOVER)
            return
        found = self._await(run, ctx, watch, spec.signals, spec.mode, run.injected_at + spec.timeout.total_seconds())
        if found is None:
            ctx.timeline.record(EventKind.RECOVERY_TIMED_OUT,
                                f"recovery did not hold within {spec.timeout.total_seconds():g} s of injection",
                                phase=Phase.RECOVER)
            return
        at, hits = found
        run.recovered_at = at
        run.recovered_by = [e.describe() for e, _ in hits]
        latest = max((m.api_time for _, m in hits if m.api_time), default=None)
        ctx.timeline.record(EventKind.RECOVERED, "recovered: " + "; ".join(f"{e.describe()} ({m.detail})" for e, m in hits),
                            at=at, phase=Phase.RECOVER, source="watch", api_time=latest,
                            api_precision="1s" if latest else None)

    def _restore(self, run: DrillRun, ctx: DrillContext, watch: Watch) -> None:
        self._enter(run, ctx, Phase.RESTORE)
        ctx.timeline.record(EventKind.RESTORE_STARTED, "restore: comparing the target with its pre-drill state",
                            phase=Phase.RESTORE)
        # a second Ctrl-C during restore must not lose what is left to undo: it is reported instead
        try:
            run.restore = restore_mod.restore(ctx, watch, self.clock.monotonic() + self.settings.restore_timeout)
        except (KeyboardInterrupt, DrillAborted):
            # a second interrupt during restore: stop, and say exactly what is left to undo
            run.restore = restore_mod.RestoreResult(
                status=RestoreStatus.NEEDS_MANUAL_REPAIR,
                remaining=["restore interrupted"], manual_commands=restore_mod.manual_commands(ctx, []))
        if self.journal is not None:
            if run.restore.status is RestoreStatus.NEEDS_MANUAL_REPAIR:
                self.journal.update(run.run_id, phase="needs-manual-repair", manual_commands=run.restore.manual_commands)
            else:
                self.journal.close(run.run_id)
