"""Rollback ``self-heal``: do nothing and wait for Argo CD to put the Git state back.

Only drift can be healed (a change made through the API); a bad commit is the desired state,
so self-heal cannot undo a Git injection. Argo CD's self-heal back-off (0, 2, 6, 18 ... s, reset
only by a new sync) makes repeated drills on one commit slower: see the findings.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from runner import argocd
from runner.context import DrillContext, RollbackRecord
from runner.kinds import InjectVia
from runner.rollbacks.base import Rollback

if TYPE_CHECKING:
    from runner.model import DrillSpec


class SelfHeal(Rollback):
    strategy = "self-heal"
    summary = "Wait for Argo CD's self-heal to revert the drift."

    def check(self, spec: DrillSpec) -> str | None:
        if not spec.target.application:
            return "self-heal needs target.application (an Argo CD Application with selfHeal)"
        if spec.fault.via is not InjectVia.API:
            return (f"self-heal only reverts drift made through the API; a change via {spec.fault.via.value} "
                    "is the desired state and stays")
        return None

    def preflight(self, ctx: DrillContext) -> str | None:
        if ctx.app is None or not argocd.self_heal_enabled(ctx.app):
            name = ctx.app_ref.name if ctx.app_ref else "the app"
            return f"{name} does not have automated sync with selfHeal: nothing would heal the drift"
        return None

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        record.notes.append("no action: Argo CD self-heal is expected to revert the drift")
