"""Engine settings, grouped, each with its unit, default and reason."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EngineSettings:
    preflight_timeout: float = 120.0
    """Seconds to wait for the steady state before giving up without injecting. Long enough for
    a previous drill's restore to settle (a rollout of a few pods plus an Argo CD sync)."""
    restore_timeout: float = 600.0
    """Seconds restore may take to put the target back and verify it; then it reports manual repair."""
    max_state_notes: int = 400
    """Cap on StateChanged timeline entries per drill, so a flapping cluster cannot flood the report."""
