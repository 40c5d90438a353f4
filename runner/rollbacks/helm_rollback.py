"""Rollback ``helm-rollback``: roll the release back to the revision before the drill.

The revision is found from ``helm history``: the newest revision older than the drill's whose
status is deployed or superseded (``helm rollback`` with no revision would take "last - 1",
which may be a failed one).
"""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from runner.context import DrillContext, RollbackRecord
from runner.errors import RollbackError
from runner.kinds import InjectVia
from runner.rollbacks.base import Rollback

if TYPE_CHECKING:
    from runner.model import DrillSpec


class HelmRollback(Rollback):
    strategy = "helm-rollback"
    summary = "helm rollback to the revision before the drill."

    def check(self, spec: DrillSpec) -> str | None:
        if spec.target.application:
            return ("helm-rollback cannot undo a fault on an Argo CD application: Argo CD renders the chart "
                    "itself and keeps no Helm release; use git-revert or argocd-rollback")
        if spec.fault.via is not InjectVia.HELM:
            return f"helm-rollback undoes a Helm revision, but the fault is injected via {spec.fault.via.value}"
        return None

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        helm = ctx.target.helm
        if helm is None or ctx.injection is None or ctx.injection.helm_revision is None:
            raise RollbackError("helm-rollback needs the helm CLI and the drill's revision")
        release, ns = ctx.release, ctx.namespace
        history = helm.history(release, ns)
        good = [h for h in history if h.revision < ctx.injection.helm_revision and h.status in ("deployed", "superseded")]
        if not good:
            raise RollbackError(f"no deployed or superseded revision of {release} before {ctx.injection.helm_revision}")
        to = good[-1].revision
        new = helm.rollback(release, ns, to)
        record.commands += [
            shlex.join(["helm", "history", release, "-n", ns]),
            shlex.join(["helm", "rollback", release, str(to), "-n", ns]),
        ]
        record.notes.append(f"rolled back to revision {to}; Helm recorded it as revision {new}")
