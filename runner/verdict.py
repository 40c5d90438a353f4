"""From what happened to a verdict: outcome, TTD, TTR and each expectation met or missed. Pure."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from runner.kinds import Outcome


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """One expectation (e.g. detect within 60 s) against the measured value."""

    name: str
    limit_seconds: float
    actual_seconds: float | None
    met: bool

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "limit_seconds": self.limit_seconds,
            "actual_seconds": None if self.actual_seconds is None else round(self.actual_seconds, 3),
            "met": self.met,
            "status": "met" if self.met else "missed",
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    ttd_seconds: float | None
    ttr_seconds: float | None
    expectations: tuple[ExpectationResult, ...] = field(default_factory=tuple)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Measurements:
    """Times on the runner's monotonic clock; None when it did not happen."""

    injected_at: float | None
    detected_at: float | None
    recovered_at: float | None
    aborted: str | None = None
    error: str | None = None


def evaluate(
    m: Measurements,
    detect_within: timedelta | None,
    recover_within: timedelta | None,
) -> Verdict:
    """Decide the outcome of one drill run.

    Precedence: error, then aborted, then not-detected, then not-recovered, then expectations.
    """
    ttd = None if m.injected_at is None or m.detected_at is None else m.detected_at - m.injected_at
    ttr = None if m.injected_at is None or m.recovered_at is None else m.recovered_at - m.injected_at
    exps: list[ExpectationResult] = []
    if detect_within is not None:
        limit = detect_within.total_seconds()
        exps.append(ExpectationResult("detect-within", limit, ttd, ttd is not None and ttd <= limit))
    if recover_within is not None:
        limit = recover_within.total_seconds()
        exps.append(ExpectationResult("recover-within", limit, ttr, ttr is not None and ttr <= limit))
    if m.error:
        return Verdict(Outcome.ERROR, ttd, ttr, tuple(exps), m.error)
    if m.aborted:
        return Verdict(Outcome.ABORTED, ttd, ttr, tuple(exps), m.aborted)
    if ttd is None:
        return Verdict(Outcome.NOT_DETECTED, ttd, ttr, tuple(exps), "no detection signal before the timeout")
    if ttr is None:
        return Verdict(Outcome.NOT_RECOVERED, ttd, ttr, tuple(exps), "recovery did not hold before the timeout")
    missed = [e.name for e in exps if not e.met]
    if missed:
        return Verdict(Outcome.FAILED, ttd, ttr, tuple(exps), "missed: " + ", ".join(missed))
    return Verdict(Outcome.PASSED, ttd, ttr, tuple(exps), "every expectation met")
