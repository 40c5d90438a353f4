"""Kubernetes Events that say a drill, not an incident, changed the app.

Recorded on the target Deployment (and the Argo CD Application) when a drill starts, injects,
rolls back and ends, so ``kubectl describe`` and the Argo CD UI show it. Reason ``Drill*``,
source component ``release-drills``. Failing to record one is logged and ignored.
"""
from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from runner.errors import TargetError
from runner.observers import DrillObserver
from runner.timeline import EventKind, TimelineEvent

if TYPE_CHECKING:
    from runner.engine import DrillRun

log = logging.getLogger(__name__)

REASONS = {
    EventKind.FAULT_INJECTED: ("Normal", "DrillFaultInjected"),
    EventKind.ROLLBACK_STARTED: ("Normal", "DrillRollbackStarted"),
    EventKind.MANUAL_REPAIR_NEEDED: ("Warning", "DrillNeedsManualRepair"),
}


class KubeEventRecorder(DrillObserver):
    def __init__(self, api: Any, clock: Any) -> None:
        self.api = api
        self.clock = clock

    def _emit(self, run: DrillRun, etype: str, reason: str, message: str) -> None:
        t = run.drill.spec.target
        now = self.clock.wall(self.clock.monotonic()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        objects = [("apps/v1", "Deployment", t.namespace, t.deployment)]
        if t.application:
            objects.append(("argoproj.io/v1alpha1", "Application", t.argocd_namespace, t.application))
        for api_version, kind, ns, name in objects:
            body = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{name}.drill-{uuid.uuid4().hex[:10]}", "namespace": ns},
                "involvedObject": {"apiVersion": api_version, "kind": kind, "namespace": ns, "name": name},
                "reason": reason, "message": f"release-drills {run.drill.metadata.name} ({run.run_id}): {message}"[:1024],
                "type": etype, "source": {"component": "release-drills"}, "reportingComponent": "release-drills",
                "reportingInstance": run.run_id, "eventTime": now, "action": reason, "count": 1,
                "firstTimestamp": now[:19] + "Z", "lastTimestamp": now[:19] + "Z",
            }
            try:
                self.api.create(body)
            except TargetError as exc:  # cluster events are informative; the drill goes on
                log.warning("could not record event %s on %s/%s: %s", reason, kind, name, exc)

    def drill_started(self, run: DrillRun) -> None:
        self._emit(run, "Normal", "DrillStarted", f"drill started: {run.drill.metadata.description or run.drill.spec.fault.type}")

    def event_recorded(self, run: DrillRun, event: TimelineEvent) -> None:
        if event.kind in REASONS:
            etype, reason = REASONS[event.kind]
            self._emit(run, etype, reason, event.message)

    def drill_finished(self, run: DrillRun) -> None:
        v = run.verdict
        if v is None:
            return
        self._emit(run, "Normal" if v.outcome.value == "passed" else "Warning", "DrillFinished",
                   f"{v.outcome.value}: TTD {v.ttd_seconds}, TTR {v.ttr_seconds}; restore "
                   f"{run.restore.status.value if run.restore else 'skipped'}")
