"""Machine-readable results: one JSON document per run (``results.json``), per drill the fields
CI and dashboards read. Its JSON Schema ships as ``runner/schemas/results.schema.json``."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from runner import faults
from runner.clock import utc_iso
from runner.engine import DrillRun
from runner.timeline import EventKind

SCHEMA_VERSION = 1


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


HUMAN_KINDS = {EventKind.HUMAN_ACKNOWLEDGED, EventKind.HUMAN_MITIGATED, EventKind.HUMAN_ACTED, EventKind.HUMAN_NOTE,
               EventKind.HINT_SHOWN}


def human_json(run: DrillRun) -> dict[str, Any] | None:
    """The people's side of the run: who did what, and when, relative to injection."""
    events = [e for e in run.timeline if e.kind in HUMAN_KINDS or e.source.startswith("human:")]
    if not events and run.drill.spec.rollback.strategy != "manual":
        return None
    t0 = run.injected_at

    def first(kind: EventKind) -> dict[str, Any] | None:
        e = next((x for x in events if x.kind is kind), None)
        if e is None or t0 is None:
            return None
        return {"seconds": round(e.at - t0, 3), "by": e.data.get("by"), "message": e.message}

    return {
        "first_ack": first(EventKind.HUMAN_ACKNOWLEDGED),
        "first_action": first(EventKind.HUMAN_ACTED),
        "mitigated": first(EventKind.HUMAN_MITIGATED),
        "people": sorted({str(e.data["by"]) for e in events if e.data.get("by")}),
        "notes": [e.message for e in events if e.kind is EventKind.HUMAN_NOTE],
        "events": [e.to_json(t0) for e in events],
    }


def drill_json(run: DrillRun) -> dict[str, Any]:
    tl = run.timeline
    spec = run.drill.spec
    v = run.verdict
    assert v is not None
    rb = run.rollback
    fault = faults.get(spec.fault.type)
    return {
        "name": run.drill.metadata.name,
        "description": run.drill.metadata.description,
        "labels": dict(run.drill.metadata.labels),
        "source": run.source,
        "run_id": run.run_id,
        "target": {
            "name": run.target.name,
            "kind": run.target.kind,
            "simulated": run.target.simulated,
            "application": spec.target.application,
            "release": spec.target.release,
            "namespace": spec.target.namespace,
            "deployment": spec.target.deployment,
        },
        "fault": {
            "type": spec.fault.type,
            "via": spec.fault.via.value,
            "params": spec.fault.params.model_dump(by_alias=True),
            "description": fault.describe(spec.fault.params),
        },
        "injected_at": utc_iso(tl.wall(run.injected_at)),
        "detected_at": utc_iso(tl.wall(run.detected_at)),
        "detected_by": run.detected_by,
        "recovered_at": utc_iso(tl.wall(run.recovered_at)),
        "recovered_by": run.recovered_by,
        "ttd_seconds": _r(v.ttd_seconds),
        "ttr_seconds": _r(v.ttr_seconds),
        "rollback": None if rb is None else {
            "strategy": rb.strategy,
            "started_at": utc_iso(tl.wall(rb.started_at)),
            "finished_at": utc_iso(tl.wall(rb.finished_at)),
            "duration_seconds": None if rb.finished_at is None else _r(rb.finished_at - rb.started_at),
            "commands": rb.commands,
            "notes": rb.notes,
            "error": rb.error,
        },
        "injection": None if run.injection is None else {
            "description": run.injection.description,
            "commands": run.injection.commands,
            "undo_commands": run.injection.undo_commands,
            "commit": run.injection.commit,
            "helm_revision": run.injection.helm_revision,
        },
        "outcome": v.outcome.value,
        "reason": v.reason,
        "expectations": [e.to_json() for e in v.expectations],
        "restore": None if run.restore is None else {
            "status": run.restore.status.value,
            "actions": run.restore.actions,
            "manual_commands": run.restore.manual_commands,
            "remaining": run.restore.remaining,
        },
        "triage": run.triage.to_json() if run.triage else None,
        "findings": [{"title": f.title, "evidence": f.evidence, "suggestion": f.suggestion} for f in run.findings],
        "human": human_json(run),
        "timeline": [e.to_json(run.injected_at) for e in tl],
    }


def run_json(runs: Sequence[DrillRun], started: datetime, finished: datetime, target: dict[str, Any]) -> dict[str, Any]:
    outcomes = [r.verdict.outcome.value for r in runs if r.verdict]
    return {
        "schema_version": SCHEMA_VERSION,
        "started_at": utc_iso(started),
        "finished_at": utc_iso(finished),
        "target": target,
        "summary": {
            "total": len(runs),
            "passed": outcomes.count("passed"),
            "not_passed": len(outcomes) - outcomes.count("passed"),
            "needs_manual_repair": sum(1 for r in runs if r.needs_manual_repair),
        },
        "drills": [drill_json(r) for r in runs],
    }
