"""Trends over the run history: per drill, how often it passes, how TTD and TTR move, and which
drills got worse. Pure: rows and ``now`` in, data or markdown out.

What it does: groups history rows by (drill, target) — a drill on the simulated cluster and the
same drill on a real cluster are different series, their timings are not comparable — and
computes runs, pass rate, TTD/TTR series with p50/p95, and regressions (rules below). The
markdown comes from ``trends.md.j2`` (en/zh) through ``runner.render.markdown.environment``.

What it does not do: read the history file, read a clock, or decide whether a regression fails a
job (``runner.reporting_cli`` does, on request).

Percentiles: linear interpolation between closest ranks (Hyndman & Fan type 7, NumPy's default):
p50 is the usual median and p95 never exceeds the largest value.

Regression rules, per (drill, target), runs oldest first:

* TTR (and, separately, TTD): take the runs that have the value (a run that never recovered has
  no TTR; it shows up in the pass rate instead). *Recent* = the last 7 of them, *baseline* = up
  to 30 before those. Flag when p50(recent) > 1.5 × p50(baseline) **and** p50(recent) −
  p50(baseline) ≥ 1 s. The 1 s floor keeps millisecond jitter on near-zero times (an API drift is
  detected in 2 ms) from being called a 1.5× slowdown.
* Pass rate (outcome ``passed``; anything else, aborted included, is not a pass): recent = last 7
  runs, baseline = up to 30 before them. Flag when the recent rate is more than 10 percentage
  points below the baseline rate; with 7 runs that is one new failure after a spotless baseline,
  but not one failure when the baseline already failed now and then (90 % -> 86 %).
* No check until there are at least 7 recent and 7 baseline values: a p50 of two runs is noise.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Callable, Sequence

from runner.history import HistoryRow
from runner.render import markdown

RECENT_RUNS = 7
"""Runs in the recent window."""
BASELINE_RUNS = 30
"""At most this many runs before the recent window form the baseline."""
MIN_BASELINE_RUNS = 7
"""No regression check with fewer baseline values than this."""
SLOWDOWN_FACTOR = 1.5
"""Recent p50 above this multiple of the baseline p50 is a slowdown..."""
MIN_SLOWDOWN_SECONDS = 1.0
"""...provided it is also at least this many seconds slower."""
PASS_RATE_DROP = 0.10
"""A recent pass rate more than this (a fraction, 0.10 = 10 points) below the baseline is a drop."""
CHART_RUNS = RECENT_RUNS + BASELINE_RUNS
"""Charts and tables show the runs the regression check looks at: the last 37."""


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of ``values`` by linear interpolation (Hyndman & Fan type 7).

    ``percentile([1, 2, 3, 4], 50) == 2.5``; ``percentile(range(1, 11), 95) == 9.55``.

    Args:
        values: at least one number, any order.
        p: 0..100.

    Raises:
        ValueError: no values, or ``p`` outside 0..100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    xs = sorted(float(v) for v in values)
    rank = (len(xs) - 1) * p / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def _p(values: Sequence[float], p: float) -> float | None:
    return percentile(values, p) if values else None


class Metric(str, Enum):
    """What a regression is about.

    TTD: time to detect got slower.
    TTR: time to recover got slower.
    PASS_RATE: the drill passes less often.
    """

    TTD = "ttd"
    TTR = "ttr"
    PASS_RATE = "pass-rate"


@dataclass(frozen=True, slots=True)
class Regression:
    """One drill that got worse on one metric.

    ``recent`` and ``baseline`` are p50 seconds for TTD/TTR and fractions (0..1) for the pass rate.
    """

    drill: str
    target: str
    metric: Metric
    recent: float
    baseline: float
    recent_runs: int
    baseline_runs: int

    @property
    def ratio(self) -> float | None:
        """recent / baseline (TTD, TTR); None when the baseline is 0."""
        return self.recent / self.baseline if self.baseline else None


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One run of a drill, numbered 1.. within its (drill, target) series."""

    number: int
    started_at: datetime
    outcome: str
    ttd_seconds: float | None
    ttr_seconds: float | None
    rollback_strategy: str | None
    expectations_met: bool
    restore_status: str | None


@dataclass(frozen=True, slots=True)
class Chart:
    """A mermaid ``xychart-beta`` of TTD and TTR over the runs that have both."""

    labels: tuple[str, ...]
    ttd: tuple[float, ...]
    ttr: tuple[float, ...]
    y_max: float


@dataclass(frozen=True, slots=True)
class DrillTrend:
    """Everything the trends report shows for one (drill, target)."""

    drill: str
    target: str
    simulated: bool
    fault: str
    rollback_strategy: str | None
    runs: int
    passed: int
    ttd_p50: float | None
    ttd_p95: float | None
    ttd_runs: int
    ttr_p50: float | None
    ttr_p95: float | None
    ttr_runs: int
    last_run: datetime
    last_outcome: str
    points: tuple[RunPoint, ...]
    """Every run, oldest first."""

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs

    @property
    def checked(self) -> bool:
        """Whether there are enough runs for the regression checks."""
        return self.runs >= RECENT_RUNS + MIN_BASELINE_RUNS

    @property
    def shown(self) -> tuple[RunPoint, ...]:
        """The runs the table shows: the last ``CHART_RUNS``."""
        return self.points[-CHART_RUNS:]

    @property
    def chart(self) -> Chart | None:
        pts = [p for p in self.shown if p.ttd_seconds is not None and p.ttr_seconds is not None]
        if not pts:
            return None
        ttd = tuple(round(p.ttd_seconds or 0.0, 3) for p in pts)
        ttr = tuple(round(p.ttr_seconds or 0.0, 3) for p in pts)
        return Chart(tuple(f"#{p.number}" for p in pts), ttd, ttr, _nice_ceiling(max(ttd + ttr)))


def _nice_ceiling(x: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``x`` (a y-axis top that reads well)."""
    if x <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(x))
    for step in (1, 2, 5, 10):
        if step * power >= x:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _groups(rows: Sequence[HistoryRow]) -> dict[tuple[str, str], list[HistoryRow]]:
    groups: dict[tuple[str, str], list[HistoryRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.run_started_at, r.id)):
        groups[(r.drill, r.target)].append(r)
    return dict(sorted(groups.items()))


def drill_trends(rows: Sequence[HistoryRow]) -> list[DrillTrend]:
    """One ``DrillTrend`` per (drill, target), sorted by drill then target."""
    out = []
    for (drill, target), rs in _groups(rows).items():
        ttd = [r.ttd_seconds for r in rs if r.ttd_seconds is not None]
        ttr = [r.ttr_seconds for r in rs if r.ttr_seconds is not None]
        last = rs[-1]
        out.append(DrillTrend(
            drill=drill, target=target, simulated=last.simulated,
            fault=f"{last.fault_type} via {last.fault_via}", rollback_strategy=last.rollback_strategy,
            runs=len(rs), passed=sum(r.passed for r in rs),
            ttd_p50=_p(ttd, 50), ttd_p95=_p(ttd, 95), ttd_runs=len(ttd),
            ttr_p50=_p(ttr, 50), ttr_p95=_p(ttr, 95), ttr_runs=len(ttr),
            last_run=last.run_started_at, last_outcome=last.outcome,
            points=tuple(RunPoint(i, r.run_started_at, r.outcome, r.ttd_seconds, r.ttr_seconds,
                                  r.rollback_strategy, r.expectations_met, r.restore_status)
                         for i, r in enumerate(rs, 1)),
        ))
    return out


def _windows(values: Sequence[float]) -> tuple[list[float], list[float]] | None:
    if len(values) < RECENT_RUNS + MIN_BASELINE_RUNS:
        return None
    recent = list(values[-RECENT_RUNS:])
    baseline = list(values[-RECENT_RUNS - BASELINE_RUNS:-RECENT_RUNS])
    return recent, baseline


def _slowdown(drill: str, target: str, metric: Metric, values: Sequence[float]) -> Regression | None:
    w = _windows(values)
    if w is None:
        return None
    recent, baseline = w
    r50, b50 = percentile(recent, 50), percentile(baseline, 50)
    if r50 > SLOWDOWN_FACTOR * b50 and r50 - b50 >= MIN_SLOWDOWN_SECONDS:
        return Regression(drill, target, metric, r50, b50, len(recent), len(baseline))
    return None


def _pass_rate_drop(drill: str, target: str, rows: Sequence[HistoryRow]) -> Regression | None:
    w = _windows([1.0 if r.passed else 0.0 for r in rows])
    if w is None:
        return None
    recent, baseline = w
    r_rate, b_rate = sum(recent) / len(recent), sum(baseline) / len(baseline)
    # compare with a small epsilon: 0.9 - 0.1 must not lose a flag to float rounding
    if r_rate < b_rate - PASS_RATE_DROP - 1e-9:
        return Regression(drill, target, Metric.PASS_RATE, r_rate, b_rate, len(recent), len(baseline))
    return None


def regressions(rows: Sequence[HistoryRow]) -> list[Regression]:
    """Every regression in the history (rules: the module docstring).

    Ordered by drill, then target, then TTR, TTD, pass rate.
    """
    found: list[Regression] = []
    metrics: list[tuple[Metric, Callable[[HistoryRow], float | None]]] = [
        (Metric.TTR, lambda r: r.ttr_seconds), (Metric.TTD, lambda r: r.ttd_seconds)]
    for (drill, target), rs in _groups(rows).items():
        for metric, get in metrics:
            values = [v for v in (get(r) for r in rs) if v is not None]
            reg = _slowdown(drill, target, metric, values)
            if reg:
                found.append(reg)
        drop = _pass_rate_drop(drill, target, rs)
        if drop:
            found.append(drop)
    return found


def trends_markdown(rows: Sequence[HistoryRow], now: datetime, lang: str = "en",
                    template_dir: Path | None = None) -> str:
    """The trends report: regressions first, an overview, then per drill a chart and a table.

    Args:
        rows: history rows (any order, any drills).
        now: when the report is made (shown, and used for "last run N days ago").
        lang: ``en`` or ``zh``.
        template_dir: a folder whose ``trends.md.j2`` overrides the shipped one.

    Raises:
        ValueError: unknown ``lang``.
    """
    env = markdown.environment(lang, template_dir)
    trends = drill_trends(rows)
    ages = {(t.drill, t.target): max(0.0, (now - t.last_run).total_seconds() / 86400) for t in trends}
    return env.get_template("trends.md.j2").render(
        now=now, trends=trends, regressions=regressions(rows), ages=ages, total_runs=len(rows),
        rules={"recent": RECENT_RUNS, "baseline": BASELINE_RUNS, "min_baseline": MIN_BASELINE_RUNS,
               "factor": SLOWDOWN_FACTOR, "min_seconds": MIN_SLOWDOWN_SECONDS,
               "drop_points": round(PASS_RATE_DROP * 100), "chart_runs": CHART_RUNS},
        Metric=Metric,
    )
