"""Run a Chaos Toolkit steady-state hypothesis continuously, as ``chaos run --hypothesis-strategy
continuously`` does, and print one JSON line per iteration (Chaos Toolkit's own start/end times).

Runs in a separate virtualenv that has ``chaostoolkit`` and ``chaostoolkit-kubernetes``
(``python -m venv /tmp/ctk && /tmp/ctk/bin/pip install chaostoolkit chaostoolkit-kubernetes``),
started by ``timing_accuracy.py``; it never imports release-drills. The loop is chaoslib's own
``run_hypothesis_continuously`` (one iteration, then ``event.wait(frequency)``; the default
frequency of ``chaos run --hypothesis-frequency`` is 1.0 s). Stops when stdin closes.

usage: python _ctk_hypothesis.py EXPERIMENT_JSON FREQUENCY_SECONDS
(KUBECONFIG and KUBERNETES_CONTEXT in the environment, as chaosk8s expects)
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

from chaoslib.run import EventHandlerRegistry, RunEventHandler, run_hypothesis_continuously
from chaoslib.types import Schedule


class Printer(RunEventHandler):  # type: ignore[misc]
    def continuous_hypothesis_iteration(self, iteration_index: int, state: Any) -> None:
        if state is None:
            return
        probes = state.get("probes") or []
        line = {
            "i": iteration_index,
            "met": bool(state.get("steady_state_met")),
            "start": probes[0]["start"] if probes else None,
            "end": probes[-1]["end"] if probes else None,
            "probes": [{"name": p["activity"].get("name"), "status": p.get("status"), "output": p.get("output"),
                        "tolerance_met": p.get("tolerance_met"), "start": p.get("start"), "end": p.get("end")}
                       for p in probes],
        }
        sys.stdout.write(json.dumps(line, default=str) + "\n")
        sys.stdout.flush()


def main() -> int:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("chaostoolkit").setLevel(logging.CRITICAL)
    experiment = json.loads(sys.argv[1])
    frequency = float(sys.argv[2])
    stop = threading.Event()
    journal: dict[str, Any] = {"status": "running", "steady_states": {"before": None, "after": None, "during": []}}
    registry = EventHandlerRegistry()
    registry.register(Printer())

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent is done
        stop.set()
    threading.Thread(target=watch_stdin, daemon=True).start()
    run_hypothesis_continuously(stop, Schedule(continuous_hypothesis_frequency=frequency), experiment, journal,
                                {}, {}, registry, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
