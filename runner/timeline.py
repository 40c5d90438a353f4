"""The timeline of a drill run: ordered, timestamped, append-only.

Every entry carries the runner's monotonic time (when the runner saw or did it), the wall time
that maps to, and, when the evidence came from the API, the API's own timestamp beside it with
its precision (mostly whole seconds; see the reference notes). Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Iterator

from runner.clock import Clock, utc_iso
from runner.kinds import Phase


class EventKind(str, Enum):
    """What happened, in past tense."""

    PREFLIGHT_PASSED = "PreflightPassed"
    PREFLIGHT_FAILED = "PreflightFailed"
    BASELINE_CAPTURED = "BaselineCaptured"
    FAULT_INJECTED = "FaultInjected"
    STATE_CHANGED = "StateChanged"
    SIGNAL_OBSERVED = "SignalObserved"
    DEGRADATION_DETECTED = "DegradationDetected"
    DETECTION_TIMED_OUT = "DetectionTimedOut"
    ROLLBACK_STARTED = "RollbackStarted"
    ROLLBACK_STEP = "RollbackStep"
    ROLLBACK_FINISHED = "RollbackFinished"
    ROLLBACK_FAILED = "RollbackFailed"
    RECOVERED = "Recovered"
    RECOVERY_TIMED_OUT = "RecoveryTimedOut"
    RESTORE_STARTED = "RestoreStarted"
    RESTORE_REPAIRED = "RestoreRepaired"
    RESTORE_VERIFIED = "RestoreVerified"
    MANUAL_REPAIR_NEEDED = "ManualRepairNeeded"
    DRILL_ABORTED = "DrillAborted"
    DRILL_ERRORED = "DrillErrored"
    MAX_DURATION_REACHED = "MaxDurationReached"
    HUMAN_ACKNOWLEDGED = "HumanAcknowledged"
    HUMAN_MITIGATED = "HumanDeclaredMitigated"
    HUMAN_ACTED = "HumanActed"
    HUMAN_NOTE = "HumanNote"
    HINT_SHOWN = "HintShown"
    NOTE = "Note"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One entry of the timeline."""

    at: float
    wall: datetime
    kind: EventKind
    message: str
    phase: Phase | None = None
    source: str = "runner"
    api_time: datetime | None = None
    api_precision: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self, t0: float | None) -> dict[str, Any]:
        return {
            "at": utc_iso(self.wall),
            "offset_seconds": None if t0 is None else round(self.at - t0, 3),
            "kind": self.kind.value,
            "phase": self.phase.value if self.phase else None,
            "source": self.source,
            "message": self.message,
            "api_time": utc_iso(self.api_time),
            "api_precision": self.api_precision,
            **({"data": self.data} if self.data else {}),
        }


class Timeline:
    """Append-only list of ``TimelineEvent`` stamped from one clock."""

    def __init__(self, clock: Clock, on_record: Callable[[TimelineEvent], None] | None = None) -> None:
        self._clock = clock
        self._events: list[TimelineEvent] = []
        self._on_record = on_record

    def record(
        self,
        kind: EventKind,
        message: str,
        *,
        at: float | None = None,
        phase: Phase | None = None,
        source: str = "runner",
        api_time: datetime | None = None,
        api_precision: str | None = None,
        **data: Any,
    ) -> TimelineEvent:
        """Append an event; ``at`` defaults to now on the clock (watch evidence passes its arrival time)."""
        mono = self._clock.monotonic() if at is None else at
        ev = TimelineEvent(
            at=mono,
            wall=self._clock.wall(mono),
            kind=kind,
            message=message,
            phase=phase,
            source=source,
            api_time=api_time,
            api_precision=api_precision,
            data={k: v for k, v in data.items() if v is not None},
        )
        self._events.append(ev)
        if self._on_record is not None:
            self._on_record(ev)
        return ev

    def wall(self, mono: float | None) -> datetime | None:
        """Wall time of a monotonic reading of this timeline's clock."""
        return None if mono is None else self._clock.wall(mono)

    def __iter__(self) -> Iterator[TimelineEvent]:
        return iter(sorted(self._events, key=lambda e: e.at))

    def __len__(self) -> int:
        return len(self._events)

    def first(self, kind: EventKind) -> TimelineEvent | None:
        return next((e for e in self if e.kind is kind), None)

    def of(self, *kinds: EventKind) -> list[TimelineEvent]:
        return [e for e in self if e.kind in kinds]
