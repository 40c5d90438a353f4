"""What every rollback strategy has in common.

A strategy says statically which faults and injection paths it can undo (``check``, used by
``drills validate``), checks the live target before anything is injected (``preflight``: e.g.
self-heal needs selfHeal on), and ``execute``s, recording the exact commands a person would
have typed. Restore runs after every strategy, whatever it did.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from runner.context import DrillContext, RollbackRecord

if TYPE_CHECKING:
    from runner.model import DrillSpec


class Rollback(ABC):
    strategy: ClassVar[str]
    summary: ClassVar[str]
    sets_expected_revision: ClassVar[bool] = False

    def check(self, spec: DrillSpec) -> str | None:
        """Why this strategy cannot undo the drill's fault as injected, or None."""
        return None

    def preflight(self, ctx: DrillContext) -> str | None:
        """Why this strategy cannot work on the live target, or None (called before injection)."""
        return None

    @abstractmethod
    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        """Run the rollback; append commands and notes to ``record``; raise RollbackError on failure."""
