"""The human side of a drill: acknowledgements, "it is fixed", notes, actions, aborts.

People reach a running drill through a ``HumanInbox``; each message becomes an ``Observation``
of kind ``HumanEvent`` pushed into the drill's watch, so it is timed on the same clock, in the
same order, as what the cluster does. Pure apart from the lock that makes ``put`` thread-safe.
"""
from __future__ import annotations

import itertools
import threading
from enum import Enum
from typing import Any, Protocol

from runner.view import Observation

KIND = "HumanEvent"


class HumanAction(str, Enum):
    """What a person did.

    ACK: acknowledged the alert ("I'm on it"). MITIGATED: says it is fixed (recovery still needs
    the machine signals). NOTE: a note for the review. ACTION: ran a command (a rollback).
    ABORT: the facilitator stops the drill (restore runs at once). HINT: a hint was shown.
    """

    ACK = "ack"
    MITIGATED = "mitigated"
    NOTE = "note"
    ACTION = "action"
    ABORT = "abort"
    HINT = "hint"


class Injectable(Protocol):
    def inject(self, obs: Observation) -> None:
        """Deliver an observation from outside the target (thread-safe), stamped on arrival."""
        ...


_ids = itertools.count(1)


def human_object(action: HumanAction, by: str, note: str = "", **extra: Any) -> dict[str, Any]:
    return {"kind": KIND, "metadata": {"name": f"human-{next(_ids)}", "namespace": ""},
            "action": action.value, "by": by or "someone", "note": note, **extra}


class HumanInbox:
    """Where people's messages enter; attached to the running drill's watch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watch: Injectable | None = None
        self.run_id: str | None = None

    def attach(self, run_id: str, watch: Injectable) -> None:
        with self._lock:
            self.run_id, self._watch = run_id, watch

    def detach(self) -> None:
        with self._lock:
            self.run_id, self._watch = None, None

    def put(self, action: HumanAction, by: str, note: str = "", run_id: str | None = None, **extra: Any) -> bool:
        """Deliver a message to the running drill; False when no drill (or another one) runs."""
        with self._lock:
            if self._watch is None or (run_id is not None and run_id != self.run_id):
                return False
            self._watch.inject(Observation(0.0, "ADDED", KIND, human_object(action, by, note, **extra)))
            return True
