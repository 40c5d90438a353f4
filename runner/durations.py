"""Durations as people write them in drill files: ``500ms``, ``90s``, ``5m``, ``1h``, ``1m30s``.

Inside the runner durations are ``timedelta``; only YAML uses the strings. A bare number is
refused on purpose: ``90`` could mean seconds or minutes, and a drill file is read by people.
"""
from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_SECONDS = 366 * 24 * 3600.0
"""Longest duration a file may give (a year): beyond it is a typo, and timedelta overflows soon after."""
_KINDS = {type(None): "nothing (null)", dict: "a mapping", list: "a list", bool: "true/false"}
PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


def parse_duration(text: object) -> timedelta:
    """Parse ``text`` into a timedelta.

    Raises:
        ValueError: with a sentence that says what a valid duration looks like.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a duration such as 500ms, 90s or 5m, got {_KINDS.get(type(text), type(text).__name__)}")
    if isinstance(text, (int, float)):
        if not -MAX_SECONDS < text < MAX_SECONDS:  # also NaN and .inf
            raise ValueError(f"bad duration {text!r}: expected a number and a unit (ms, s, m, h), e.g. 500ms, 90s, 5m")
        raise ValueError(f"bad duration {text!r}: write it with a unit, e.g. {text}s")
    s = text.strip()
    if not _WHOLE.match(s):
        raise ValueError(f"bad duration {text!r}: expected a number and a unit (ms, s, m, h), e.g. 500ms, 90s, 5m")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(s))
    if not seconds <= MAX_SECONDS:  # float('9' * 400) is inf; timedelta overflows past ~1e14 s
        raise ValueError(f"bad duration {text!r}: longer than a year")
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    """The shortest drill-file spelling of ``td`` (``90s``, ``5m``, ``500ms``)."""
    ms = round(td.total_seconds() * 1000)
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def human_seconds(seconds: float | None) -> str:
    """``12.345`` -> ``12.35 s``; ``0.0021`` -> ``0.002 s``; ``None`` -> ``—``."""
    if seconds is None:
        return "—"
    if seconds >= 120:
        m, s = divmod(seconds, 60)
        return f"{int(m)} min {s:.1f} s"
    if seconds < 10:
        return f"{seconds:.3f} s"
    return f"{seconds:.2f} s"
