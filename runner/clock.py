"""Clocks: the only source of time inside a drill run.

The runner times everything on a monotonic clock (seconds as float) and maps it to wall time
once, at the clock's creation, so that reports show dates and durations never jump with NTP.
``VirtualClock`` drives the simulated target and the tests: ``sleep`` advances time instead of
waiting. Nothing else in the package calls ``time.time()`` or ``datetime.now()``.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """Monotonic time with a fixed mapping to wall time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def wall(self, mono: float) -> datetime:
        """The UTC wall time that corresponds to the monotonic reading ``mono``."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a virtual clock advances instead)."""
        ...


class SystemClock:
    """The machine's monotonic clock, mapped to UTC wall time at construction."""

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self, mono: float) -> datetime:
        return self._wall0 + timedelta(seconds=mono - self._mono0)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """A clock that only moves when told to; deterministic for tests and the simulated target.

    Args:
        start: the wall time at monotonic 0.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = 0.0
        self._wall0 = start or datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return self._now

    def wall(self, mono: float) -> datetime:
        return self._wall0 + timedelta(seconds=mono)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

    def advance_to(self, mono: float) -> None:
        """Move the clock forward to ``mono``; never backwards."""
        if mono > self._now:
            self._now = mono


def utc_iso(dt: datetime | None) -> str | None:
    """ISO 8601 with milliseconds and a Z, the format of every timestamp in results."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ScaledClock:
    """Real time sped up by ``factor`` (``3600``: an hour per second), for rehearsing schedules.

    Only the scheduler uses it (``drills schedule --time-scale``); drills inside still run on
    their target's own clock.
    """

    def __init__(self, factor: float, start: datetime | None = None) -> None:
        if factor <= 0:
            raise ValueError("time scale must be positive")
        self.factor = factor
        self._real0 = time.monotonic()
        self._wall0 = start or datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return (time.monotonic() - self._real0) * self.factor

    def wall(self, mono: float) -> datetime:
        return self._wall0 + timedelta(seconds=mono)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.factor)
