"""Prometheus metrics for drill results, on a registry the caller owns.

What it does: ``DrillMetrics(registry)`` registers the collectors below and ``observe`` feeds
one drill result (a ``results.json`` entry) into them; ``push`` sends a registry to a
Pushgateway (for one-shot ``drills run`` in CI); ``serve`` exposes it over HTTP (for the
long-running daemon).

What it does not do: touch prometheus_client's global default registry (two DrillMetrics in one
process, e.g. in tests, would collide there), read a clock (``finished_at`` is passed in), or
use labels that grow without bound: labels are the drill name, the target name and the outcome
(a closed set) — never run ids, commit SHAs or messages.

Series (``drill``: drill name, ``target``: target name such as ``sim``):

* ``drills_runs_total{drill,target,outcome}`` counter of finished runs.
* ``drills_time_to_detect_seconds{drill,target}`` / ``drills_time_to_recover_seconds{drill,target}``
  histograms, observed only when the run detected / recovered (buckets 1 s .. 30 min).
* ``drills_last_run_timestamp_seconds{drill,target}`` Unix time the last run finished.
* ``drills_last_outcome{drill,target,outcome}`` 1 for the last run's outcome, 0 for every other
  outcome (so ``drills_last_outcome{outcome="passed"} == 0`` is an alert rule).
* ``drills_expectations_met{drill,target}`` 1 if the last run met its expectations, else 0.
* ``drills_rollback_duration_seconds{drill,target}`` how long the last run's rollback step took;
  the series is removed when the last run had no rollback, rather than showing a stale value.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway, start_http_server

from runner.history import expectations_met
from runner.kinds import Outcome

TIME_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0)
"""Seconds. From 1 s (an API drift noticed at once) to 30 min (a rollout that waits out
progressDeadlineSeconds twice); anything slower lands in +Inf and is a failure anyway."""

OUTCOMES = tuple(o.value for o in Outcome)


class DrillMetrics:
    """The drill collectors, registered on ``registry``.

    Args:
        registry: where the collectors live; never prometheus_client's global ``REGISTRY`` by default.

    Raises:
        ValueError: the collectors are already registered on ``registry`` (one DrillMetrics per registry).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runs = Counter("drills_runs", "Drill runs finished, by outcome.",
                            ["drill", "target", "outcome"], registry=registry)
        self.ttd = Histogram("drills_time_to_detect_seconds",
                             "Time from injection to the first detection signal.",
                             ["drill", "target"], buckets=TIME_BUCKETS, registry=registry)
        self.ttr = Histogram("drills_time_to_recover_seconds", "Time from injection to recovery.",
                             ["drill", "target"], buckets=TIME_BUCKETS, registry=registry)
        self.last_run = Gauge("drills_last_run_timestamp_seconds", "Unix time the drill's last run finished.",
                              ["drill", "target"], registry=registry)
        self.last_outcome = Gauge("drills_last_outcome",
                                  "1 for the outcome of the drill's last run, 0 for the others.",
                                  ["drill", "target", "outcome"], registry=registry)
        self.expectations = Gauge("drills_expectations_met",
                                  "1 if the drill's last run met its expectations, else 0.",
                                  ["drill", "target"], registry=registry)
        self.rollback = Gauge("drills_rollback_duration_seconds",
                              "How long the last run's rollback step took.",
                              ["drill", "target"], registry=registry)

    def observe(self, drill: Mapping[str, Any], target: str, finished_at: float) -> None:
        """Record one finished drill.

        Args:
            drill: one entry of ``results.json``'s ``drills`` (``runner.results.drill_json``).
            target: the target's name (a label: keep it to configured target names).
            finished_at: Unix time (seconds) the run finished, from the caller's clock.
        """
        name, outcome = str(drill["name"]), str(drill["outcome"])
        self.runs.labels(name, target, outcome).inc()
        if drill.get("ttd_seconds") is not None:
            self.ttd.labels(name, target).observe(float(drill["ttd_seconds"]))
        if drill.get("ttr_seconds") is not None:
            self.ttr.labels(name, target).observe(float(drill["ttr_seconds"]))
        self.last_run.labels(name, target).set(finished_at)
        # an outcome we do not know (a newer runner) still gets its 1; the known ones all get a 0
        for o in dict.fromkeys((*OUTCOMES, outcome)):
            self.last_outcome.labels(name, target, o).set(1.0 if o == outcome else 0.0)
        self.expectations.labels(name, target).set(1.0 if expectations_met(drill) else 0.0)
        duration = (drill.get("rollback") or {}).get("duration_seconds")
        if duration is not None:
            self.rollback.labels(name, target).set(float(duration))
        else:
            # drop the last value rather than let it pass for this run's; KeyError: there was none
            with contextlib.suppress(KeyError):
                self.rollback.remove(name, target)


def push(url: str, registry: CollectorRegistry, job: str = "release-drills",
         grouping: dict[str, str] | None = None, *, timeout: float = 10.0) -> None:
    """Push ``registry`` to a Pushgateway (HTTP PUT: it replaces the group's metrics).

    Args:
        url: the Pushgateway, e.g. ``http://pushgateway:9091``.
        registry: what to push.
        job: the ``job`` grouping label.
        grouping: further grouping labels, e.g. ``{"target": "staging"}``; keep them low-cardinality.
        timeout: seconds to wait for the gateway.

    Raises:
        OSError: the gateway could not be reached or refused the push (``urllib.error.URLError``/
            ``HTTPError``). Callers log it: a metrics outage must not fail a drill.
    """
    push_to_gateway(url, job=job, registry=registry, grouping_key=grouping, timeout=timeout)


def serve(port: int, registry: CollectorRegistry,
          addr: str = "0.0.0.0") -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread.

    ``port=0`` picks a free port (``server.server_port`` tells which). The default address
    listens on every interface, as Prometheus scrapes expect; pass ``127.0.0.1`` to keep it local.

    Returns:
        ``(server, thread)``; stop with ``server.shutdown(); server.server_close(); thread.join()``.
    """
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return server, thread
