"""Rollback ``git-revert``: revert the drill's commit, push, and let Argo CD sync (the team's
default: auditable, the fix is a commit)."""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from runner import argocd
from runner.context import DrillContext, RollbackRecord
from runner.errors import RollbackError
from runner.kinds import InjectVia
from runner.rollbacks.base import Rollback

if TYPE_CHECKING:
    from runner.model import DrillSpec


class GitRevert(Rollback):
    strategy = "git-revert"
    summary = "git revert the drill's commit, push, and ask Argo CD to refresh."

    def check(self, spec: DrillSpec) -> str | None:
        if spec.fault.via is not InjectVia.GIT:
            return f"git-revert undoes a commit, but the fault is injected via {spec.fault.via.value}"
        return None

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        if ctx.injection is None or ctx.injection.commit is None or ctx.gitops is None or ctx.app_ref is None:
            raise RollbackError("git-revert needs the drill's commit and the GitOps repository")
        sha = ctx.gitops.revert(ctx.injection.commit, f"Revert drill {ctx.drill.metadata.name} (release-drills)")
        ctx.expected_revision = sha
        record.commands += [
            shlex.join(["git", "revert", "--no-edit", ctx.injection.commit[:12]]),
            shlex.join(["git", "push", "origin", ctx.gitops.branch]),
        ]
        record.notes.append(f"revert commit {sha[:12]}")
        if not ctx.drill.spec.fault.wait_for_poll:
            argocd.request_refresh(ctx.target.api, ctx.app_ref)
            record.commands.append(shlex.join(["argocd", "app", "get", ctx.app_ref.name, "--refresh"]))
