"""Where finished drills go: the run history, Prometheus metrics, reports, webhook notifications.

Used by ``drills run`` (history, optional push to a Pushgateway) and ``drills schedule``
(history, /metrics, a report folder per suite run, webhook on failure). I/O at the edge only.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from runner import history as history_mod
from runner import metrics as metrics_mod
from runner import notify
from runner.clock import Clock, SystemClock
from runner.engine import DrillRun
from runner.results import drill_json, run_json

log = logging.getLogger(__name__)


@dataclass
class ResultSinks:
    history_path: Path
    report_dir: Path | None
    lang: str = "en"
    metrics_port: int | None = None
    webhook: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    needs_repair: bool = False

    def __post_init__(self) -> None:
        self.history = history_mod.History(self.history_path)
        self.metrics = metrics_mod.DrillMetrics(self.registry)
        self._server: Any = None

    def start(self) -> None:
        if self.metrics_port is not None:
            self._server = metrics_mod.serve(self.metrics_port, self.registry)

    def stop(self) -> None:
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._server = None
        self.history.close()

    def now(self) -> Any:
        return self.clock.wall(self.clock.monotonic())

    def record(self, run: DrillRun, target: str, suite: str | None, source: str, report: str | None,
               started_at: Any = None) -> dict[str, Any]:
        d = drill_json(run)
        self.history.record(d, run_started_at=started_at or self.now(), target=target, suite=suite, source=source)
        self.metrics.observe(d, target, self.now().timestamp())
        if run.needs_manual_repair:
            self.needs_repair = True
        if self.webhook and d["outcome"] != "passed":
            notify.post(self.webhook, notify.summary(d, report))
        return d

    # --- daemon callbacks ---------------------------------------------------------------------

    def on_run(self, suite_run: Any, run: DrillRun) -> None:
        self.record(run, suite_run.target, suite_run.suite, "schedule", None, started_at=suite_run.started_at)

    def on_suite(self, suite_run: Any) -> None:
        if not suite_run.runs or self.report_dir is None:
            return
        from runner.render import writer

        started = suite_run.started_at
        results = run_json(suite_run.runs, started, self.now(), {
            "name": suite_run.runs[0].target.name, "kind": suite_run.runs[0].target.kind,
            "simulated": suite_run.runs[0].target.simulated})
        folder = self.report_dir / f"{started.strftime('%Y%m%d-%H%M%S')}-{writer.safe_name(suite_run.suite)}"
        writer.write(folder, results, suite_run.runs, self.lang)
        log.info("suite %s: reports in %s", suite_run.suite, folder)
