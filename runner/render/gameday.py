"""The facilitator's console for game days (``drills gameday``).

A full-screen rich view while a drill runs: the briefing, the clock against the expectations,
what the machines have shown (detection, Argo CD, pods), what the people have done (acks,
actions, "mitigated", notes), the hint once it is due, and the keys: [n] note, [p] pause before
the next drill, [a] abort (restore at once), [q] stop after this drill. Over SSH or tmux it is
an ordinary terminal program; when stdout is not a terminal it prints lines instead and reads
commands from stdin lines (``note TEXT``, ``abort``, ``pause``, ``start``).
"""
from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from rich.console import Console, Group
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from runner.durations import human_seconds
from runner.humans import HumanAction, HumanInbox
from runner.observers import DrillObserver
from runner.timeline import EventKind, TimelineEvent

if TYPE_CHECKING:
    from runner.engine import DrillRun

MACHINE = {EventKind.FAULT_INJECTED, EventKind.DEGRADATION_DETECTED, EventKind.DETECTION_TIMED_OUT, EventKind.RECOVERED,
           EventKind.RECOVERY_TIMED_OUT, EventKind.ROLLBACK_STARTED, EventKind.RESTORE_REPAIRED, EventKind.RESTORE_VERIFIED,
           EventKind.MANUAL_REPAIR_NEEDED, EventKind.MAX_DURATION_REACHED}
PEOPLE = {EventKind.HUMAN_ACKNOWLEDGED, EventKind.HUMAN_MITIGATED, EventKind.HUMAN_ACTED, EventKind.HUMAN_NOTE,
          EventKind.HINT_SHOWN, EventKind.DRILL_ABORTED}


@dataclass
class Board:
    """What the console shows; updated by the engine thread, read by the render thread."""

    drill: str = ""
    run_id: str = ""
    briefing: str = ""
    phase: str = "waiting"
    injected_at: float | None = None
    detect_within: float | None = None
    recover_within: float | None = None
    detected: float | None = None
    recovered: float | None = None
    machine: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    hint: str = ""
    typing: str | None = None
    status: str = ""
    pause_next: bool = False
    stop_after: bool = False


class FacilitatorConsole(DrillObserver):
    def __init__(self, console: Console, inbox: HumanInbox, clock: Any, facilitator: str = "facilitator") -> None:
        self.console = console
        self.inbox = inbox
        self.clock = clock
        self.facilitator = facilitator
        self.board = Board()
        self.tty = console.is_terminal and sys.stdin.isatty()
        self._live: Live | None = None
        self._keys: threading.Thread | None = None
        self._stop_keys = threading.Event()
        self._start = threading.Semaphore(0)  # one release per 'start': typed-ahead starts are kept
        self._lock = threading.Lock()

    # --- the view ------------------------------------------------------------------------------

    def __rich__(self) -> Layout:
        b = self.board
        now = self.clock.monotonic()
        elapsed = None if b.injected_at is None else now - b.injected_at
        clock_t = Table.grid(padding=(0, 2))
        clock_t.add_row(Text(f"{b.drill}", style="bold"), Text(f"run {b.run_id}"), Text(f"phase: {b.phase}"),
                        Text(f"elapsed {human_seconds(elapsed)}", style="bold cyan"))
        clock_t.add_row(self._vs("detect", b.detected, b.detect_within, elapsed, b.injected_at),
                        self._vs("recover", b.recovered, b.recover_within, elapsed, b.injected_at), Text(""), Text(b.status))
        layout = Layout()
        layout.split_column(Layout(Panel(clock_t, title="release-drills game day"), size=5),
                            Layout(name="body"), Layout(self._footer(), size=3))
        layout["body"].split_row(
            Layout(Panel(Group(Text(b.briefing or "(no briefing)"), Text(""), Text(b.hint, style="bold yellow")),
                         title="briefing")),
            Layout(Panel(Text("\n".join(b.machine[-14:]) or "(nothing yet)"), title="machines")),
            Layout(Panel(Text("\n".join(b.people[-14:]) or "(nobody yet)"), title="people")))
        return layout

    def _vs(self, what: str, at: float | None, limit: float | None, elapsed: float | None, t0: float | None) -> Text:
        if at is not None and t0 is not None:
            took = at - t0
            ok = limit is None or took <= limit
            return Text(f"{what}: {human_seconds(took)}" + (f" / {limit:g} s" if limit else ""), style="green" if ok else "red")
        if limit is None or elapsed is None:
            return Text(f"{what}: —")
        return Text(f"{what}: {human_seconds(elapsed)} / {limit:g} s", style="red" if elapsed > limit else "white")

    def _footer(self) -> Panel:
        b = self.board
        if b.typing is not None:
            return Panel(Text(f"note: {b.typing}_  (Enter to add, Esc to cancel)"))
        keys = "[n] note  [p] pause before next drill  [a] abort (restore now)  [q] stop after this drill"
        flags = ("  | paused after this drill" if b.pause_next else "") + ("  | stopping after this drill" if b.stop_after else "")
        return Panel(Text(keys + flags))

    # --- observer hooks ---------------------------------------------------------------------------

    def drill_started(self, run: DrillRun) -> None:
        gd = run.drill.spec.gameday
        exp = run.drill.spec.expect
        with self._lock:
            self.board = Board(drill=run.drill.metadata.name, run_id=run.run_id, briefing=(gd.briefing if gd else "").strip(),
                               detect_within=exp.detect_within.total_seconds() if exp.detect_within else None,
                               recover_within=exp.recover_within.total_seconds() if exp.recover_within else None,
                               pause_next=self.board.pause_next, stop_after=self.board.stop_after)
        self._say(f"drill {run.drill.metadata.name} started: run id {run.run_id} (drills ack {run.run_id} --by NAME)")

    def phase_started(self, run: DrillRun, phase: Any) -> None:
        self.board.phase = phase.value

    def event_recorded(self, run: DrillRun, event: TimelineEvent) -> None:
        b = self.board
        offset = "" if run.injected_at is None else f"{event.at - run.injected_at:+7.1f}s "
        if event.kind is EventKind.FAULT_INJECTED:
            b.injected_at = event.at
        if event.kind is EventKind.DEGRADATION_DETECTED:
            b.detected = event.at
        if event.kind is EventKind.RECOVERED:
            b.recovered = event.at
        if event.kind is EventKind.HINT_SHOWN:
            b.hint = "HINT: " + event.message.split(":", 1)[-1].strip()
        line = f"{offset}{event.message}"
        if event.kind in PEOPLE:
            b.people.append(line)
            self._say(f"people  {line}")
        elif event.kind in MACHINE or (event.kind is EventKind.STATE_CHANGED and ("health" in event.message or "waiting" in event.message)):
            b.machine.append(line)
            self._say(f"machine {line}")

    def drill_finished(self, run: DrillRun) -> None:
        v = run.verdict
        self.board.status = f"{v.outcome.value}" if v else ""
        self._say(f"drill {run.drill.metadata.name}: {v.outcome.value if v else '?'} (TTD {human_seconds(v.ttd_seconds if v else None)}, "
                  f"TTR {human_seconds(v.ttr_seconds if v else None)})")

    def _say(self, line: str) -> None:
        if not self.tty:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    # --- keys and commands --------------------------------------------------------------------

    def start(self) -> None:
        if self.tty:
            self._live = Live(self, console=self.console, screen=True, refresh_per_second=4)
            self._live.start()
        self._keys = threading.Thread(target=self._read_keys if self.tty else self._read_lines, daemon=True)
        self._keys.start()

    def stop(self) -> None:
        self._stop_keys.set()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def wait_to_start(self, name: str, briefing: str, auto: bool) -> bool:
        """Show the briefing; block until the facilitator starts the drill (False: stop the day)."""
        if self.board.stop_after:
            return False
        if auto and not self.board.pause_next:
            return True
        self.board = Board(drill=name, briefing=briefing.strip(), phase="waiting to start",
                           status="press [s] to start" if self.tty else "type 'start'")
        self._say(f"next: {name}. Briefing: {briefing.strip() or '(none)'}")
        self._say("type 'start' to begin, 'stop' to end the day")
        self._start.acquire()
        self.board.pause_next = False
        return not self.board.stop_after

    def command(self, cmd: str) -> None:
        """One facilitator command (from a key or a line)."""
        word, _, rest = cmd.strip().partition(" ")
        if word == "note" and rest:
            if not self.inbox.put(HumanAction.NOTE, self.facilitator, rest):
                self.board.people.append(f"(note not recorded: no drill running) {rest}")
        elif word == "abort":
            self.inbox.put(HumanAction.ABORT, self.facilitator, "aborted from the console")
        elif word == "pause":
            self.board.pause_next = True
        elif word in ("start", "s"):
            self._start.release()
        elif word in ("stop", "q"):
            self.board.stop_after = True
            self._start.release()

    def _read_lines(self) -> None:
        for line in sys.stdin:
            if self._stop_keys.is_set():
                return
            self.command(line)

    def _read_keys(self) -> None:
        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while not self._stop_keys.is_set():
                ready, _, _ = select.select([fd], [], [], 0.2)
                if not ready:
                    continue
                ch = os.read(fd, 1).decode(errors="ignore")
                b: Board = self.board
                if b.typing is not None:
                    if ch in ("\r", "\n"):
                        text, b.typing = b.typing, None
                        if text.strip():
                            self.command("note " + text)
                    elif ch == "\x1b":
                        b.typing = None
                    elif ch in ("\x7f", "\b"):
                        b.typing = b.typing[:-1]
                    else:
                        b.typing += ch
                    continue
                action: Callable[[], None] | None = {
                    "n": lambda board=b: setattr(board, "typing", ""),
                    "a": lambda: self.command("abort"),
                    "p": lambda: self.command("pause"),
                    "q": lambda: self.command("stop"),
                    "s": lambda: self.command("start"),
                }.get(ch.lower())
                if action is not None:
                    action()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
