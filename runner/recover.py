"""``drills recover``: finish the restore of drills whose runner died (the journal's open records).

For each open record of a target it rebuilds what restore needs (the drill, the pre-drill state,
what was injected, a fresh watch) and runs the same restore as a normal drill end. A record is
closed only when the target is verified back; otherwise the commands a person must run are
printed and the record stays.
"""
from __future__ import annotations

from dataclasses import dataclass

from runner import argocd
from runner.context import DrillContext
from runner.engine import watch_scope
from runner.journal import Entry, Journal
from runner.kinds import Phase, RestoreStatus
from runner.model import Drill
from runner.restore import RestoreResult, restore
from runner.targets.base import Target
from runner.timeline import Timeline
from runner.view import ClusterView


@dataclass
class Recovery:
    entry: Entry
    result: RestoreResult


def recover_entry(target: Target, journal: Journal, entry: Entry, timeout: float) -> Recovery:
    drill = Drill.model_validate(entry.data["drill"])
    ctx = DrillContext(drill=drill, target=target, timeline=Timeline(target.clock), view=ClusterView(), phase=Phase.RESTORE)
    if ctx.app_ref is not None:
        ctx.app = target.api.get(ctx.app_ref)
        if ctx.app is not None:
            ctx.gitops = target.gitops_for(argocd.source(ctx.app).repo_url)
    ctx.baseline = entry.baseline()
    ctx.injection = entry.injection()
    ctx.expected_revision = entry.data.get("expected_revision")
    watch = target.watch(watch_scope(drill))
    try:
        now = target.clock.monotonic()
        while (obs := watch.next(now)) is not None:
            ctx.view.apply(obs)
        result = restore(ctx, watch, target.clock.monotonic() + timeout)
    finally:
        watch.close()
    if result.status is RestoreStatus.NEEDS_MANUAL_REPAIR:
        journal.update(entry.run_id, phase="needs-manual-repair", manual_commands=result.manual_commands)
    else:
        journal.close(entry.run_id)
    return Recovery(entry, result)
