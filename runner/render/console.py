"""The console: a rich live view while drills run (drill, phase, elapsed, last signal), a
summary table at the end, and plain lines when stdout is not a terminal.

An observer over the engine; the engine never imports rich.
"""
from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table

from runner.durations import human_seconds
from runner.engine import DrillRun
from runner.kinds import Phase
from runner.observers import DrillObserver
from runner.timeline import EventKind, TimelineEvent

_SHOWN = {EventKind.FAULT_INJECTED, EventKind.DEGRADATION_DETECTED, EventKind.DETECTION_TIMED_OUT,
          EventKind.ROLLBACK_STARTED, EventKind.ROLLBACK_FAILED, EventKind.RECOVERED, EventKind.RECOVERY_TIMED_OUT,
          EventKind.RESTORE_REPAIRED, EventKind.RESTORE_VERIFIED, EventKind.MANUAL_REPAIR_NEEDED,
          EventKind.PREFLIGHT_FAILED, EventKind.DRILL_ERRORED, EventKind.DRILL_ABORTED, EventKind.HUMAN_ACKNOWLEDGED,
          EventKind.HUMAN_MITIGATED, EventKind.HUMAN_ACTED, EventKind.HUMAN_NOTE, EventKind.HINT_SHOWN,
          EventKind.MAX_DURATION_REACHED}
STYLE = {"passed": "green", "failed": "red", "not-detected": "red", "not-recovered": "red", "aborted": "yellow", "error": "red"}


class ConsoleObserver(DrillObserver):
    def __init__(self, console: Console, live: bool | None = None) -> None:
        self.console = console
        self.live_enabled = console.is_terminal if live is None else live
        self._live: Live | None = None
        self._rows: dict[str, list[str]] = {}

    # --- live view -------------------------------------------------------------------------

    def _table(self) -> Table:
        t = Table(title="release-drills", expand=False)
        for col in ("drill", "phase", "elapsed", "last signal"):
            t.add_column(col)
        for row in self._rows.values():
            t.add_row(*row)
        return t

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def drill_started(self, run: DrillRun) -> None:
        self._rows[run.run_id] = [run.drill.metadata.name, "preflight", "", ""]
        if run.drill.spec.rollback.strategy == "manual" or run.drill.spec.gameday:
            # responders need the id: drills ack RUN-ID
            self.console.print(f"run id: {run.run_id}  (drills ack {run.run_id} --by NAME)", highlight=False, soft_wrap=True)
        if self.live_enabled:
            if self._live is None:
                self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=True)
                self._live.start()
            self._refresh()
        else:
            self.console.print(f"drill {run.drill.metadata.name}: starting on {run.target.name}"
                               + (" (simulated)" if run.target.simulated else ""), highlight=False)

    def phase_started(self, run: DrillRun, phase: Phase) -> None:
        self._rows[run.run_id][1] = phase.value
        self._refresh()

    def event_recorded(self, run: DrillRun, event: TimelineEvent) -> None:
        elapsed = "" if run.injected_at is None else f"{event.at - run.injected_at:.1f} s"
        row = self._rows.get(run.run_id)
        if row is not None:
            row[2] = elapsed
            if event.kind in (EventKind.DEGRADATION_DETECTED, EventKind.RECOVERED, EventKind.STATE_CHANGED):
                row[3] = event.message[:70]
        if self.live_enabled:
            self._refresh()
        elif event.kind in _SHOWN:
            self.console.print(f"  [{elapsed or '-':>8}] {event.kind.value}: {event.message}", highlight=False, markup=False,
                               soft_wrap=True)

    def drill_finished(self, run: DrillRun) -> None:
        v = run.verdict
        assert v is not None
        row = self._rows.get(run.run_id)
        if row is not None:
            row[1] = v.outcome.value
        self._refresh()
        if not self.live_enabled:
            self.console.print(f"drill {run.drill.metadata.name}: {v.outcome.value} (TTD {human_seconds(v.ttd_seconds)}, "
                               f"TTR {human_seconds(v.ttr_seconds)})", highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def summary(console: Console, runs: Sequence[DrillRun], report_dir: str | None, simulated: bool) -> None:
    t = Table(title="Drill summary" + (" (simulated target)" if simulated else ""))
    for col, just in (("drill", "left"), ("fault", "left"), ("rollback", "left"), ("outcome", "left"),
                      ("TTD", "right"), ("TTR", "right"), ("restore", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in runs:
        v = r.verdict
        assert v is not None
        spec = r.drill.spec
        t.add_row(r.drill.metadata.name, f"{spec.fault.type} via {spec.fault.via.value}", spec.rollback.strategy,
                  f"[{STYLE[v.outcome.value]}]{v.outcome.value}[/]", human_seconds(v.ttd_seconds), human_seconds(v.ttr_seconds),
                  r.restore.status.value if r.restore else "—")
    console.print(t)
    for r in runs:
        if r.needs_manual_repair and r.restore is not None:
            console.print(f"[bold red]{r.drill.metadata.name} left the target needing manual repair[/]: "
                          + "; ".join(r.restore.remaining))
            console.print("Run:", markup=False)
            for c in r.restore.manual_commands:
                console.print(f"  {c}", markup=False, highlight=False)
    if report_dir:
        console.print(f"Reports: {report_dir}", highlight=False)
