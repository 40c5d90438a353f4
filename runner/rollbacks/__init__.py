"""Rollback registry: strategy name -> implementation. Adding one is one module plus one line."""
from __future__ import annotations

from runner.rollbacks import argocd_rollback, git_revert, helm_rollback, manual, none, rollout_undo, self_heal
from runner.rollbacks.base import Rollback

REGISTRY: dict[str, Rollback] = {
    r.strategy: r
    for r in (
        git_revert.GitRevert(),
        helm_rollback.HelmRollback(),
        argocd_rollback.ArgoCDRollback(),
        rollout_undo.RolloutUndo(),
        self_heal.SelfHeal(),
        none.NoRollback(),
        manual.ManualRollback(),
    )
}


def get(strategy: str) -> Rollback:
    return REGISTRY[strategy]


__all__ = ["REGISTRY", "Rollback", "get"]
