"""Rollback ``argocd-rollback``: sync the Application to the history id deployed before the drill.

Argo CD refuses a rollback while automated sync is on ("rollback cannot be initiated when
auto-sync is enabled"), so auto-sync is turned off first and turned back on by restore, after
Git is fixed (otherwise Argo CD would sync straight back to the bad commit). Both are recorded
in the timeline. After the rollback the app reads OutOfSync (live = old revision, Git = new):
that is expected until restore fixes Git.
"""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from runner import argocd
from runner.context import DrillContext, RollbackRecord
from runner.errors import ResourceConflict, RollbackError
from runner.kinds import InjectVia, SyncStatus
from runner.rollbacks.base import Rollback
from runner.targets.base import ResourceRef
from runner.timeline import EventKind
from runner.view import Obj

CONFLICT_ATTEMPTS = 5
"""How many 409 Conflicts in a row the rollback absorbs before it gives up."""

if TYPE_CHECKING:
    from runner.model import DrillSpec


class ArgoCDRollback(Rollback):
    strategy = "argocd-rollback"
    summary = "Turn auto-sync off and sync the Application to the history id before the drill."

    def check(self, spec: DrillSpec) -> str | None:
        if not spec.target.application:
            return "argocd-rollback needs target.application (an Argo CD Application)"
        if spec.fault.via is InjectVia.HELM:
            return "argocd-rollback cannot undo a Helm upgrade"
        for entry in spec.recover.signals:
            if entry.signal_name == "app-sync" and entry.params is SyncStatus.SYNCED:
                return ("after argocd-rollback the app stays OutOfSync until Git is fixed; "
                        "drop 'app-sync: Synced' from recover (restore fixes Git afterwards)")
        return None

    def preflight(self, ctx: DrillContext) -> str | None:
        if ctx.baseline is None or ctx.baseline.app_history_id is None:
            return "the Application has no sync history to roll back to"
        return None

    def execute(self, ctx: DrillContext, record: RollbackRecord) -> None:
        ref = ctx.app_ref
        api = ctx.target.api
        if ref is None or ctx.baseline is None or ctx.baseline.app_history_id is None:
            raise RollbackError("argocd-rollback needs the Application and its pre-drill history id")
        app = api.get(ref)
        if app is None:
            raise RollbackError(f"Application {ref.name} not found")
        if argocd.auto_sync_enabled(app):
            ctx.app_specs.append(argocd.set_automated(api, ref, None).get("spec") or {})
            record.commands.append(shlex.join(["argocd", "app", "set", ref.name, "--sync-policy", "none"]))
            ctx.note(EventKind.ROLLBACK_STEP, f"auto-sync of {ref.name} turned off for the rollback (restore turns it back on)")
            app = api.get(ref) or app
        entry = self._start(ctx, ref, app)
        record.commands.append(shlex.join(["argocd", "app", "rollback", ref.name, str(entry["id"])]))
        record.notes.append(f"rolled back to history id {entry['id']} (revision {str(entry['revision'])[:12]})")

    def _start(self, ctx: DrillContext, ref: ResourceRef, app: Obj) -> dict[str, Any]:
        """Write the rollback operation guarded by the app's resourceVersion, so it never lands on
        top of an operation someone else started. Argo CD's controller rewrites ``status`` all the
        time (a refresh after auto-sync was turned off, reconciledAt), so a 409 Conflict is normal:
        re-read, check again, try again; only a real competing operation stops the rollback."""
        assert ctx.baseline is not None and ctx.baseline.app_history_id is not None
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            entry = next((h for h in argocd.history(app) if h.get("id") == ctx.baseline.app_history_id), None)
            if entry is None:
                raise RollbackError(f"history id {ctx.baseline.app_history_id} no longer in {ref.name}'s history")
            if argocd.operation_in_progress(app):
                raise RollbackError(f"{ref.name} has an operation in progress; refusing to start another")
            try:
                argocd.start_sync(
                    ctx.target.api, ref, revision=entry["revision"], source_override=entry.get("source"),
                    reason=f"drill {ctx.drill.metadata.name}: rollback to history id {entry['id']}",
                    resource_version=app["metadata"].get("resourceVersion"),
                )
                return entry
            except ResourceConflict as exc:
                if attempt == CONFLICT_ATTEMPTS:
                    raise RollbackError(f"{ref.name} kept changing under the rollback ({attempt} conflicts): {exc}") from exc
                ctx.note(EventKind.ROLLBACK_STEP, f"{ref.name} changed while starting the rollback (409 Conflict); re-read and retried")
                app = ctx.target.api.get(ref) or app
        raise AssertionError("unreachable")
