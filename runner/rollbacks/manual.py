"""Rollback ``manual``: the team rolls back by hand (a game day); the runner only observes and
verifies recovery. ``max-duration`` (spec.gameday) bounds how long it waits before restoring the
target itself."""
from __future__ import annotations

from runner.context import DrillContext, RollbackRecord
from runner.rollbacks.base import Rollback


class ManualRollback(Rollback):
    strategy = "manual"
    summary = "The team rolls back by hand; the runner observes and verifies recovery."

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        record.notes.append("the team rolls back by hand; the runner observes")
