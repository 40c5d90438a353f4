"""Scripted responders: a team played by a script on the simulated cluster's virtual clock, so
manual drills are deterministic in tests and a facilitator can rehearse the day before.

A responders file (``kind: Responders``) lists steps at times after injection: acknowledge, say
it is mitigated, add a note, or run a rollback strategy as the team would. Only the simulated
target can schedule them on its clock; on a real cluster real people answer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from runner import rollbacks
from runner.context import RollbackRecord
from runner.errors import RollbackError, TargetError, UsageError
from runner.humans import HumanAction, HumanInbox
from runner.model import Duration, StrategyName, _Model
from runner.observers import DrillObserver
from runner.timeline import EventKind, TimelineEvent

if TYPE_CHECKING:
    from runner.engine import DrillRun


class Said(_Model):
    by: str = "responder"
    note: str = ""


class Step(_Model):
    at: Duration = Field(description="Time after injection.")
    ack: Said | None = None
    mitigated: Said | None = None
    note: Said | None = None
    run: StrategyName | None = Field(default=None, description="Run this rollback strategy, as the team would.")
    by: str = Field(default="responder", description="Who runs it (for run).")

    @model_validator(mode="after")
    def _one(self) -> Step:
        given = [k for k in ("ack", "mitigated", "note", "run") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each step does exactly one of ack, mitigated, note, run")
        return self


class RespondersSpec(_Model):
    drill: str | None = Field(default=None, description="Only for this drill (default: every drill).")
    steps: tuple[Step, ...] = Field(min_length=1)


class RespondersMetadata(_Model):
    name: str


class Responders(_Model):
    api_version: Literal["drills.release/v1"] = Field(alias="apiVersion")
    kind: Literal["Responders"]
    metadata: RespondersMetadata
    spec: RespondersSpec


class ScriptedResponders(DrillObserver):
    """Plays the steps on the simulated cluster's clock, through the drill's human inbox."""

    def __init__(self, scripts: list[Responders], sim: Any, inbox: HumanInbox) -> None:
        if not hasattr(sim, "kernel"):
            raise UsageError("--responders plays a team on the simulated cluster only (--target sim); on a real cluster "
                             "people answer with drills ack / drills mitigated")
        self.scripts, self.sim, self.inbox = scripts, sim, inbox

    def event_recorded(self, run: DrillRun, event: TimelineEvent) -> None:
        if event.kind is not EventKind.FAULT_INJECTED:
            return
        for script in self.scripts:
            if script.spec.drill not in (None, run.drill.metadata.name):
                continue
            for step in script.spec.steps:
                self.sim.kernel.schedule(step.at.total_seconds() - (self.sim.clock.monotonic() - event.at),
                                         self._play(run, step))

    def _play(self, run: DrillRun, step: Step) -> Any:
        def play() -> None:
            if run.context is None or self.inbox.run_id != run.run_id:
                return  # the drill already ended
            if step.ack is not None:
                self.inbox.put(HumanAction.ACK, step.ack.by, step.ack.note)
            elif step.mitigated is not None:
                self.inbox.put(HumanAction.MITIGATED, step.mitigated.by, step.mitigated.note)
            elif step.note is not None:
                self.inbox.put(HumanAction.NOTE, step.note.by, step.note.note)
            elif step.run is not None:
                record = RollbackRecord(strategy=step.run, started_at=self.sim.clock.monotonic())
                try:
                    rollbacks.get(step.run).execute(run.context, record)
                    note = f"{step.run}: " + ("; ".join(record.notes) or "done")
                except (RollbackError, TargetError) as exc:
                    note = f"{step.run} failed: {exc}"
                self.inbox.put(HumanAction.ACTION, step.by, note, commands=record.commands)
        return play


