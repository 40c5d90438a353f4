"""Rollback ``none``: take no action (measure whether anything recovers on its own); restore
still puts the target back afterwards."""
from __future__ import annotations

from runner.context import DrillContext, RollbackRecord
from runner.rollbacks.base import Rollback


class NoRollback(Rollback):
    strategy = "none"
    summary = "No rollback; restore repairs the target afterwards."

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        record.notes.append("no rollback configured")
