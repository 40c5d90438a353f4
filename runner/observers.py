"""Observers of a drill run: the console, metrics and the reports listen to the engine here.

``DrillObserver`` is a base class of no-op hooks (Chaos Toolkit's RunEventHandler pattern);
``Observers`` fans a hook out to all of them. An observer that raises is logged with its
traceback and the drill goes on: a broken progress bar must never leave a fault injected.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

from runner.errors import DrillAborted
from runner.kinds import Phase
from runner.timeline import TimelineEvent

if TYPE_CHECKING:
    from runner.engine import DrillRun

log = logging.getLogger(__name__)


class DrillObserver:
    """Override the hooks you need."""

    def drill_started(self, run: DrillRun) -> None: ...

    def phase_started(self, run: DrillRun, phase: Phase) -> None: ...

    def event_recorded(self, run: DrillRun, event: TimelineEvent) -> None: ...

    def drill_finished(self, run: DrillRun) -> None: ...


class Observers(DrillObserver):
    def __init__(self, observers: Sequence[DrillObserver] = ()) -> None:
        self.observers = list(observers)

    def _each(self, hook: str, *args: object) -> None:
        for o in self.observers:
            try:
                getattr(o, hook)(*args)
            except DrillAborted:
                raise  # a stop request (SIGTERM) raised while an observer ran: it is the drill's, not the observer's
            except Exception:  # an observer must never break a drill (see module docstring)
                log.exception("observer %s failed in %s", type(o).__name__, hook)

    def drill_started(self, run: DrillRun) -> None:
        self._each("drill_started", run)

    def phase_started(self, run: DrillRun, phase: Phase) -> None:
        self._each("phase_started", run, phase)

    def event_recorded(self, run: DrillRun, event: TimelineEvent) -> None:
        self._each("event_recorded", run, event)

    def drill_finished(self, run: DrillRun) -> None:
        self._each("drill_finished", run)
