"""Webhook notifications: a JSON POST of a drill's summary when it did not pass.

Standard library HTTP; a timeout; failures are logged, never raised (a notification must not
break a drill). The URL may carry a token: it is never logged.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from runner.targets.gitrepo import redact_url

log = logging.getLogger(__name__)


def summary(drill: dict[str, Any], report: str | None) -> dict[str, Any]:
    return {
        "text": f"drill {drill['name']} on {drill['target']['name']}: {drill['outcome']} ({drill.get('reason', '')})",
        "drill": drill["name"], "target": drill["target"]["name"], "outcome": drill["outcome"],
        "reason": drill.get("reason"), "ttd_seconds": drill.get("ttd_seconds"), "ttr_seconds": drill.get("ttr_seconds"),
        "restore": (drill.get("restore") or {}).get("status"),
        "manual_commands": (drill.get("restore") or {}).get("manual_commands") or [],
        "report": report,
    }


def post(url: str, payload: dict[str, Any], timeout: float = 10.0) -> bool:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "release-drills"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - an operator-configured URL
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError) as exc:
        log.warning("webhook %s failed: %s", redact_url(url).split("?")[0], type(exc).__name__)
        return False
