"""A rollback runbook (SOP) for one application, written from its drill history. Pure.

What it does: for every failure mode drilled against the application (fault type + injection
path) it says how the failure showed itself first (the most common detection signal and the
typical TTD), which rollback strategy verifiably worked fastest (lowest TTR p50 among strategies
with at least one passed run, the p50/p95 taken over those passed runs) with the exact commands
of its latest passing run, how many runs stand behind each number, and the environment's
release policy. The steps follow the course's rollback SOP: locate the failure -> choose the
rollback -> execute -> verify health -> write the retrospective. Markdown comes from
``sop.md.j2`` (en/zh).

What it does not do: invent a rollback that was never verified — a failure mode with no passing
run says so plainly and lists what was tried — read the history file, or read a clock.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Sequence

from runner.history import HistoryRow
from runner.render import markdown
from runner.trends import percentile


class Environment(str, Enum):
    """The environment an application name points at, and so its release policy (seed lesson §7).

    DEV: ``-dev``: Argo CD syncs automatically and self-heals drift.
    STAGE: ``-stage``: Argo CD syncs automatically; a person confirms rollbacks.
    PROD: ``-prod``: manual sync, with approval, for every change including rollbacks.
    UNKNOWN: any other name: no policy is assumed.
    """

    DEV = "dev"
    STAGE = "stage"
    PROD = "prod"
    UNKNOWN = "unknown"


def environment_of(application: str) -> Environment:
    """The environment from the name's suffix (``week6-api-prod`` -> PROD), else UNKNOWN."""
    for env in (Environment.DEV, Environment.STAGE, Environment.PROD):
        if application.endswith(f"-{env.value}"):
            return env
    return Environment.UNKNOWN


def signal_name(detected_by: str) -> str:
    """``pod-waiting(reasons=...)`` -> ``pod-waiting``; ``app-health: Degraded`` stays whole: there
    the value is the signal."""
    return detected_by.split("(", 1)[0].strip()


@dataclass(frozen=True, slots=True)
class Detection:
    """The signal that fired first most often for a failure mode."""

    signal: str
    example: str
    """Its most common full description, e.g. ``pod-waiting(reasons=ErrImagePull,ImagePullBackOff)``."""
    count: int
    detected_runs: int
    """Runs of the failure mode that were detected at all."""


@dataclass(frozen=True, slots=True)
class StrategyStats:
    """One rollback strategy as drilled for one failure mode."""

    strategy: str
    runs: int
    passed: int
    ttr_p50: float | None
    """Over the passed runs only: the verified times."""
    ttr_p95: float | None
    ttr_runs: int
    latest_pass: HistoryRow | None

    @property
    def verified(self) -> bool:
        return self.passed > 0 and self.ttr_p50 is not None

    @property
    def commands(self) -> list[str]:
        """The commands of the latest passing run (empty: the strategy needs none, e.g. self-heal)."""
        return self.latest_pass.rollback_commands if self.latest_pass else []

    @property
    def recovered_by(self) -> list[str]:
        """The recovery signals that held in the latest passing run."""
        return list(self.latest_pass.data.get("recovered_by") or []) if self.latest_pass else []


@dataclass(frozen=True, slots=True)
class FailureMode:
    """One fault type + injection path drilled against the application."""

    fault_type: str
    via: str
    description: str
    """The latest run's fault description, e.g. ``image tag -> does-not-exist-0000``."""
    runs: int
    passed: int
    detection: Detection | None
    ttd_p50: float | None
    ttd_p95: float | None
    ttd_runs: int
    strategies: tuple[StrategyStats, ...]
    """Verified strategies fastest first, then the unverified ones by name."""
    first_run: datetime
    last_run: datetime
    outcomes: dict[str, int]
    """How the runs ended, e.g. ``{"not-recovered": 3, "passed": 5}``."""
    namespace: str | None
    deployment: str | None
    argocd: bool
    """Whether the latest run went through an Argo CD Application (else a plain Helm release)."""

    @property
    def best(self) -> StrategyStats | None:
        """The fastest verified strategy, or None when nothing passed."""
        return self.strategies[0] if self.strategies and self.strategies[0].verified else None


def _matches(row: HistoryRow, application: str) -> bool:
    return row.application == application or (row.application is None and row.release == application)


def _strategy(name: str, rows: list[HistoryRow]) -> StrategyStats:
    passed = [r for r in rows if r.passed]
    ttr = [r.ttr_seconds for r in passed if r.ttr_seconds is not None]
    return StrategyStats(
        strategy=name, runs=len(rows), passed=len(passed),
        ttr_p50=percentile(ttr, 50) if ttr else None, ttr_p95=percentile(ttr, 95) if ttr else None,
        ttr_runs=len(ttr), latest_pass=passed[-1] if passed else None,
    )


def _detection(rows: list[HistoryRow]) -> Detection | None:
    detected = [r.detected_by for r in rows if r.detected_by]
    if not detected:
        return None
    by_signal = Counter(signal_name(d) for d in detected)
    # most common; ties go to the signal seen most recently (the system as it is now)
    latest = {signal_name(d): i for i, d in enumerate(detected)}
    signal, count = max(by_signal.items(), key=lambda kv: (kv[1], latest[kv[0]]))
    examples = Counter(d for d in detected if signal_name(d) == signal)
    return Detection(signal, examples.most_common(1)[0][0], count, len(detected))


def failure_modes(application: str, rows: Sequence[HistoryRow]) -> list[FailureMode]:
    """The failure modes drilled against ``application`` (rows of other applications are ignored).

    Sorted by fault type, then injection path.
    """
    groups: dict[tuple[str, str], list[HistoryRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r.run_started_at, r.id)):
        if _matches(r, application):
            groups[(r.fault_type or "unknown", r.fault_via or "unknown")].append(r)
    modes = []
    for (fault_type, via), rs in sorted(groups.items()):
        by_strategy: dict[str, list[HistoryRow]] = defaultdict(list)
        for r in rs:
            by_strategy[r.rollback_strategy or "none"].append(r)
        stats = [_strategy(name, srows) for name, srows in by_strategy.items()]
        verified = sorted((s for s in stats if s.verified), key=lambda s: (s.ttr_p50, -s.passed, s.strategy))
        unverified = sorted((s for s in stats if not s.verified), key=lambda s: s.strategy)
        ttd = [r.ttd_seconds for r in rs if r.ttd_seconds is not None]
        fault = rs[-1].data.get("fault") or {}
        target = rs[-1].data.get("target") or {}
        modes.append(FailureMode(
            fault_type=fault_type, via=via, description=str(fault.get("description") or fault_type),
            runs=len(rs), passed=sum(r.passed for r in rs), detection=_detection(rs),
            ttd_p50=percentile(ttd, 50) if ttd else None, ttd_p95=percentile(ttd, 95) if ttd else None,
            ttd_runs=len(ttd), strategies=tuple(verified + unverified),
            first_run=rs[0].run_started_at, last_run=rs[-1].run_started_at,
            outcomes=dict(sorted(Counter(r.outcome for r in rs).items())),
            namespace=rs[-1].namespace, deployment=target.get("deployment"),
            argocd=rs[-1].application is not None,
        ))
    return modes


def sop_markdown(application: str, rows: Sequence[HistoryRow], *, now: datetime, lang: str = "en",
                 template_dir: Path | None = None) -> str:
    """The rollback SOP for ``application`` as markdown.

    Args:
        application: an Argo CD Application name (or a plain Helm release name).
        rows: history rows; those of other applications are ignored.
        now: when the SOP is written (shown, and the age of the evidence is measured from it).
        lang: ``en`` or ``zh``.
        template_dir: a folder whose ``sop.md.j2`` overrides the shipped one.

    Raises:
        ValueError: unknown ``lang``.
    """
    env = markdown.environment(lang, template_dir)
    mine = [r for r in rows if _matches(r, application)]
    modes = failure_modes(application, mine)
    last = max((r.run_started_at for r in mine), default=None)
    return env.get_template("sop.md.j2").render(
        application=application, environment=environment_of(application).value, now=now, modes=modes,
        total_runs=len(mine),
        simulated=bool(mine) and all(r.simulated for r in mine),
        some_simulated=any(r.simulated for r in mine),
        first_run=min((r.run_started_at for r in mine), default=None),
        last_run=last,
        age_days=None if last is None else max(0.0, (now - last).total_seconds() / 86400),
    )
