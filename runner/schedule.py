"""Suite schedules: APScheduler triggers from a suite's ``schedule``, and the run window.

Pure: triggers compute fire times from a ``now`` they are given (APScheduler 3's
``get_next_fire_time(previous, now)``); ``in_window`` answers for a given instant. The daemon
(runner/daemon.py) decides when to call them.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from runner.model import ScheduleSpec, WindowSpec

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone(name: str) -> ZoneInfo:
    """The time zone, or ValueError with a sentence."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Berlin)") from exc


def trigger(spec: ScheduleSpec, now: datetime) -> BaseTrigger:
    """The APScheduler trigger for a schedule (raises ValueError for a bad cron expression).

    An interval counts from ``now`` (APScheduler would otherwise read the real clock).
    """
    tz = zone(spec.timezone)
    jitter = int(spec.jitter.total_seconds()) or None
    if spec.cron is not None:
        t = CronTrigger.from_crontab(spec.cron, timezone=tz)
        t.jitter = jitter  # from_crontab takes no jitter; the attribute is what the trigger reads
        return t
    assert spec.interval is not None
    return IntervalTrigger(seconds=int(spec.interval.total_seconds()), timezone=tz, jitter=jitter, start_date=now)


def fingerprint(spec: ScheduleSpec) -> str:
    """Equal for equal schedules: a restart keeps a job whose schedule did not change."""
    return spec.model_dump_json(by_alias=True)


def check_cron(expr: str) -> str | None:
    """Why a cron expression is invalid, or None."""
    try:
        CronTrigger.from_crontab(expr)
    except ValueError as exc:
        return f"invalid cron expression {expr!r}: {exc} (five fields: minute hour day month weekday)"
    return None


def in_window(window: WindowSpec | None, when: datetime) -> bool:
    """Whether ``when`` (aware) falls inside the window; no window means always."""
    if window is None:
        return True
    local = when.astimezone(zone(window.timezone))
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    t = local.time()
    if start <= end:
        return DAYS[local.weekday()] in window.days and start <= t < end
    # overnight: the part after midnight belongs to the window that started the day before
    if t >= start:
        return DAYS[local.weekday()] in window.days
    if t < end:
        return DAYS[(local - timedelta(days=1)).weekday()] in window.days
    return False
