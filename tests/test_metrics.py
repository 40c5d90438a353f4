"""Prometheus metrics: exact series after a few observed runs (scraped with generate_latest),
nothing on the global registry, /metrics served over loopback HTTP, and a push to a tiny
local Pushgateway stand-in. No sleeps: HTTP calls are synchronous and the stand-in signals an
Event when it has the body."""
from __future__ import annotations

import http.server
import socket
import threading
import urllib.request
from typing import Iterator

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runner import metrics
from runner.kinds import Outcome

from test_history_trends import fake_drill

T0 = 1_767_603_600.0  # 2026-01-05T09:00:00Z


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(registry: CollectorRegistry) -> Samples:
    """Every sample of the drills_ families except the *_created timestamps (wall-clock dependent)."""
    return parse(generate_latest(registry).decode())


def parse(text: str) -> Samples:
    """Exposition text -> {(sample name, sorted labels): value}; label order in the text does not matter."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("drills_") and not s.name.endswith("_created"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _l(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


@pytest.fixture
def observed() -> CollectorRegistry:
    registry = CollectorRegistry()
    m = metrics.DrillMetrics(registry)
    m.observe(fake_drill("bad-image-tag", ttd=2.942, ttr=5.444, rollback_seconds=0.25), "sim", T0)
    m.observe(fake_drill("bad-image-tag", ttd=3.5, ttr=700.0, outcome="failed", rollback_seconds=1.5), "sim", T0 + 60)
    m.observe(fake_drill("replica-drift", ttd=None, ttr=None, outcome="not-detected"), "sim", T0 + 120)
    return registry


def test_exact_series_after_a_few_runs(observed: CollectorRegistry) -> None:
    got = samples(observed)
    tag, drift = dict(drill="bad-image-tag", target="sim"), dict(drill="replica-drift", target="sim")
    expected: Samples = {
        ("drills_runs_total", _l(**tag, outcome="passed")): 1.0,
        ("drills_runs_total", _l(**tag, outcome="failed")): 1.0,
        ("drills_runs_total", _l(**drift, outcome="not-detected")): 1.0,
        ("drills_time_to_detect_seconds_count", _l(**tag)): 2.0,
        ("drills_time_to_detect_seconds_sum", _l(**tag)): pytest.approx(6.442),  # type: ignore[dict-item]
        ("drills_time_to_recover_seconds_count", _l(**tag)): 2.0,
        ("drills_time_to_recover_seconds_sum", _l(**tag)): pytest.approx(705.444),  # type: ignore[dict-item]
        ("drills_last_run_timestamp_seconds", _l(**tag)): T0 + 60,
        ("drills_last_run_timestamp_seconds", _l(**drift)): T0 + 120,
        ("drills_expectations_met", _l(**tag)): 0.0,
        ("drills_expectations_met", _l(**drift)): 0.0,
        ("drills_rollback_duration_seconds", _l(**tag)): 1.5,
    }
    for o in Outcome:
        expected[("drills_last_outcome", _l(**tag, outcome=o.value))] = 1.0 if o is Outcome.FAILED else 0.0
        expected[("drills_last_outcome", _l(**drift, outcome=o.value))] = 1.0 if o is Outcome.NOT_DETECTED else 0.0
    buckets = {le: v for (name, labels), v in got.items()
               if name == "drills_time_to_recover_seconds_bucket" and dict(labels)["drill"] == "bad-image-tag"
               for le in [dict(labels)["le"]]}
    assert buckets == {"1.0": 0, "2.0": 0, "5.0": 0, "10.0": 1, "15.0": 1, "30.0": 1, "60.0": 1, "120.0": 1,
                       "180.0": 1, "300.0": 1, "600.0": 1, "900.0": 2, "1200.0": 2, "1800.0": 2, "+Inf": 2}
    ttd_buckets = {dict(labels)["le"]: v for (name, labels), v in got.items()
                   if name == "drills_time_to_detect_seconds_bucket"}
    assert ttd_buckets["2.0"] == 0 and ttd_buckets["5.0"] == 2
    without_buckets = {k: v for k, v in got.items() if not k[0].endswith("_bucket")}
    assert without_buckets == expected
    # a run that never detected adds no histogram series at all
    assert not any(dict(labels).get("drill") == "replica-drift" for (name, labels) in got if "_seconds_" in name)


def test_exposition_names_follow_prometheus_conventions(observed: CollectorRegistry) -> None:
    text = generate_latest(observed).decode()
    for family, kind in (("drills_runs_total", "counter"), ("drills_time_to_detect_seconds", "histogram"),
                         ("drills_time_to_recover_seconds", "histogram"), ("drills_last_run_timestamp_seconds", "gauge"),
                         ("drills_last_outcome", "gauge"), ("drills_expectations_met", "gauge"),
                         ("drills_rollback_duration_seconds", "gauge")):
        assert f"# TYPE {family} {kind}\n" in text, family
    got = parse(text)
    assert got[("drills_time_to_recover_seconds_bucket", _l(drill="bad-image-tag", le="900.0", target="sim"))] == 2
    # no run ids or commit SHAs in any label
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            assert set(s.labels) <= {"drill", "target", "outcome", "le"}, s


def test_nothing_lands_on_the_global_registry(observed: CollectorRegistry) -> None:
    assert b"drills_" not in generate_latest(REGISTRY)
    with pytest.raises(ValueError):
        metrics.DrillMetrics(observed)  # one DrillMetrics per registry
    metrics.DrillMetrics(CollectorRegistry())  # a fresh registry is independent


def test_rollback_gauge_is_dropped_when_the_last_run_had_no_rollback() -> None:
    registry = CollectorRegistry()
    m = metrics.DrillMetrics(registry)
    m.observe(fake_drill("d", rollback_seconds=2.0), "sim", T0)
    assert samples(registry)[("drills_rollback_duration_seconds", _l(drill="d", target="sim"))] == 2.0
    m.observe(fake_drill("d", ttd=None, ttr=None, outcome="not-detected"), "sim", T0 + 1)
    assert ("drills_rollback_duration_seconds", _l(drill="d", target="sim")) not in samples(registry)
    m.observe(fake_drill("e", ttd=None, ttr=None, outcome="aborted"), "sim", T0 + 2)  # never had one: fine


# --- HTTP: /metrics and the Pushgateway ------------------------------------------------------


def test_serve_exposes_metrics_over_http(observed: CollectorRegistry) -> None:
    server, thread = metrics.serve(0, observed, addr="127.0.0.1")
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert resp.status == 200
            body = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert parse(body) == samples(observed)
    assert parse(body)[("drills_runs_total", _l(drill="bad-image-tag", outcome="failed", target="sim"))] == 1


class _Gateway(http.server.BaseHTTPRequestHandler):
    """Records pushes the way a Pushgateway accepts them (PUT/POST /metrics/job/...)."""

    received: list[tuple[str, str, bytes]]
    got_one: threading.Event

    def _store(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()
        self.got_one.set()

    do_PUT = do_POST = _store

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[_Gateway]]]:
    handler = type("Gateway", (_Gateway,), {"received": [], "got_one": threading.Event()})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_push_puts_the_registry_to_the_gateway(observed: CollectorRegistry,
                                               gateway: tuple[str, type[_Gateway]]) -> None:
    url, handler = gateway
    metrics.push(url, observed, grouping={"target": "sim"})
    assert handler.got_one.wait(timeout=10)
    [(method, path, body)] = handler.received
    assert method == "PUT" and path == "/metrics/job/release-drills/target/sim"
    pushed = parse(body.decode())
    assert pushed == samples(observed)
    assert pushed[("drills_runs_total", _l(drill="bad-image-tag", outcome="passed", target="sim"))] == 1
    assert pushed[("drills_last_outcome", _l(drill="replica-drift", outcome="not-detected", target="sim"))] == 1


def test_push_to_nowhere_raises_oserror(observed: CollectorRegistry) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        metrics.push(f"http://127.0.0.1:{port}", observed, timeout=5)
