"""Restore: after every drill, put the target back as it was before, verify, or say exactly what
a person must run.

Order matters and follows who owns what: Git first (the desired state of an Argo CD app), then
the Application's sync policy (turned back on only after Git is fixed, or Argo CD would sync the
bad commit again), then the Helm release, then live objects. After the declarative sources are
fixed the runner waits, on the watch, for the controllers to converge; only what is still
different afterwards is repaired directly through the API. Verification compares the Deployment's
pod template and replicas, deleted objects, the values file in Git and the release's values
with the baseline captured before injection, and requires the rollout to be complete and the
app Synced and Healthy.
"""
from __future__ import annotations

import copy
import json
import shlex
from dataclasses import dataclass, field

from runner import argocd
from runner.context import DrillContext
from runner.errors import TargetError
from runner.kinds import RestoreStatus
from runner.targets.base import ResourceRef, Watch
from runner.timeline import EventKind
from runner.view import Observation, rollout_complete


SETTLE_WITHOUT_SOURCE_REPAIR = 30.0
"""Seconds to let a rollout in flight finish before repairing live objects directly."""


@dataclass
class RestoreResult:
    status: RestoreStatus
    actions: list[str] = field(default_factory=list)
    manual_commands: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    verified_at: float | None = None


def _canon(obj: object) -> str:
    return json.dumps(obj, sort_keys=True)


def source_differences(ctx: DrillContext) -> list[str]:
    """What differs in Git, the sync policy and the Helm release (read fresh, not watched)."""
    b = ctx.baseline
    assert b is not None
    out = []
    if ctx.gitops is not None:
        for path, content in b.git_files.items():
            if ctx.gitops.read(path) != content:
                out.append(f"git: {path} differs from before the drill")
    if ctx.app_ref is not None and not ctx.app_changed_by_someone:
        app = ctx.target.api.get(ctx.app_ref)
        if app is not None and _canon(argocd.automated(app)) != _canon((b.app_sync_policy or {}).get("automated")):
            out.append(f"argocd: automated sync policy of {ctx.app_ref.name} differs from before the drill")
    if b.helm_revision is not None and ctx.target.helm is not None:
        if ctx.target.helm.values(ctx.release, ctx.namespace) != b.helm_values:
            out.append(f"helm: values of release {ctx.release} differ from revision {b.helm_revision}")
    return out


def live_differences(ctx: DrillContext) -> list[str]:
    """What differs in the live objects, judged from the watch's view."""
    b = ctx.baseline
    assert b is not None
    out = []
    dep = ctx.view.get("Deployment", ctx.namespace, ctx.deployment_ref.name)
    if dep is None:
        out.append(f"deployment/{ctx.deployment_ref.name} is missing")
    else:
        if _canon(dep["spec"].get("template")) != _canon(b.deployment_template):
            out.append(f"deployment/{ctx.deployment_ref.name}: pod template differs from before the drill")
        if dep["spec"].get("replicas") != b.replicas:
            out.append(f"deployment/{ctx.deployment_ref.name}: replicas {dep['spec'].get('replicas')} (was {b.replicas})")
        done, why = rollout_complete(dep)
        if not done:
            out.append(f"deployment/{ctx.deployment_ref.name}: rollout not complete ({why})")
    for key in b.resources:
        kind, name = key.split("/", 1)
        if ctx.view.get(kind, ctx.namespace, name) is None:
            out.append(f"{kind.lower()}/{name} is missing")
    if ctx.app_ref is not None and b.app_healthy and not ctx.app_changed_by_someone:
        app = ctx.view.get("Application", ctx.app_ref.namespace, ctx.app_ref.name) or {}
        st = app.get("status") or {}
        sync, health = (st.get("sync") or {}).get("status"), (st.get("health") or {}).get("status")
        if sync != "Synced" or health != "Healthy":
            out.append(f"application/{ctx.app_ref.name}: {sync}/{health}, expected Synced/Healthy")
    return out


def _wait(ctx: DrillContext, watch: Watch, deadline: float) -> list[str]:
    """Fold observations until the live state matches the baseline or the deadline passes."""
    diffs = live_differences(ctx)
    while diffs:
        obs = watch.next(deadline)
        if obs is None:
            return live_differences(ctx)
        ctx.view.apply(obs)
        diffs = live_differences(ctx)
    return diffs


def _repair_sources(ctx: DrillContext, result: RestoreResult) -> None:
    b = ctx.baseline
    assert b is not None
    api = ctx.target.api
    if ctx.gitops is not None:
        for path, content in b.git_files.items():
            if ctx.gitops.read(path) == content:
                continue
            sha = None
            commit = ctx.injection.commit if ctx.injection else None
            if commit:
                try:
                    sha = ctx.gitops.revert(commit, f"Restore after drill {ctx.drill.metadata.name}: revert {commit[:12]} (release-drills)")
                    result.actions.append(shlex.join(["git", "revert", "--no-edit", commit[:12]]) + " && git push")
                except TargetError:
                    sha = None  # reverted already, or changed again since: write the old content instead
            if sha is None or ctx.gitops.read(path) != content:
                sha = ctx.gitops.commit_file(path, content, f"Restore {path} after drill {ctx.drill.metadata.name} (release-drills)")
                result.actions.append(f"git: restored {path} to its pre-drill content in commit {sha[:12]} and pushed")
            ctx.expected_revision = sha
            ctx.note(EventKind.RESTORE_REPAIRED, f"Git restored: {path} at commit {sha[:12]}")
            if ctx.app_ref is not None:
                argocd.request_refresh(api, ctx.app_ref)
    if ctx.app_ref is not None and not ctx.app_changed_by_someone:
        app = api.get(ctx.app_ref)
        want = (b.app_sync_policy or {}).get("automated")
        if app is not None and _canon(argocd.automated(app)) != _canon(want):
            ctx.app_specs.append(argocd.set_automated(api, ctx.app_ref, copy.deepcopy(want)).get("spec") or {})
            flags = ["--sync-policy", "automated"] + (["--self-heal"] if (want or {}).get("selfHeal") else []) + (
                ["--auto-prune"] if (want or {}).get("prune") else []) if want else ["--sync-policy", "none"]
            result.actions.append(shlex.join(["argocd", "app", "set", ctx.app_ref.name, *flags]))
            ctx.note(EventKind.RESTORE_REPAIRED, f"automated sync of {ctx.app_ref.name} restored to {want}")
    if b.helm_revision is not None and ctx.target.helm is not None:
        helm = ctx.target.helm
        if helm.values(ctx.release, ctx.namespace) != b.helm_values:
            new = helm.rollback(ctx.release, ctx.namespace, b.helm_revision)
            result.actions.append(shlex.join(["helm", "rollback", ctx.release, str(b.helm_revision), "-n", ctx.namespace]))
            ctx.note(EventKind.RESTORE_REPAIRED, f"Helm release {ctx.release} rolled back to revision {b.helm_revision} (now {new})")


def _settle_sync_revision(ctx: DrillContext, watch: Watch, deadline: float, result: RestoreResult) -> None:
    """After Git was restored, make Argo CD's last sync be at the restored revision, as it was at the
    current revision before the drill. Otherwise auto-sync still counts that revision as never
    synced and "heals" the next drift on an app without selfHeal once, skewing the next drill."""
    b = ctx.baseline
    if ctx.app_ref is None or b is None or not b.app_synced_at_head or ctx.app_changed_by_someone:
        return
    app = ctx.target.api.get(ctx.app_ref)
    if app is None or not argocd.auto_sync_enabled(app) or argocd.operation_in_progress(app):
        return
    st = app.get("status") or {}
    current = (st.get("sync") or {}).get("revision")
    last = (((st.get("operationState") or {}).get("syncResult")) or {}).get("revision")
    if not current or current == last:
        return
    argocd.start_sync(ctx.target.api, ctx.app_ref, revision=current, source_override=None,
                      reason=f"restore after drill {ctx.drill.metadata.name}: record the restored revision as synced")
    result.actions.append(shlex.join(["argocd", "app", "sync", ctx.app_ref.name, "--revision", current[:12]]))
    ctx.note(EventKind.RESTORE_REPAIRED, f"sync of {ctx.app_ref.name} to the restored revision {current[:12]} requested")
    key = ("Application", ctx.app_ref.namespace, ctx.app_ref.name)
    while True:
        view_app = ctx.view.get(*key) or {}
        op = ((view_app.get("status") or {}).get("operationState")) or {}
        if view_app.get("operation") is None and op.get("phase") == "Succeeded" and (op.get("syncResult") or {}).get("revision") == current:
            return
        obs = watch.next(deadline)
        if obs is None:
            return
        ctx.view.apply(obs)


def _repair_live(ctx: DrillContext, result: RestoreResult) -> None:
    b = ctx.baseline
    assert b is not None
    api = ctx.target.api
    if ctx.app_ref is not None:
        app = api.get(ctx.app_ref)
        # auto-sync does not sync the same revision again (and without selfHeal never heals drift):
        # an OutOfSync app gets the sync a person would run
        if app is not None and not argocd.operation_in_progress(app) and \
                ((app.get("status") or {}).get("sync") or {}).get("status") != "Synced":
            head = ctx.gitops.head() if ctx.gitops else "HEAD"
            argocd.start_sync(api, ctx.app_ref, revision=head, source_override=None,
                              reason=f"restore after drill {ctx.drill.metadata.name}")
            result.actions.append(shlex.join(["argocd", "app", "sync", ctx.app_ref.name]))
            ctx.note(EventKind.RESTORE_REPAIRED, f"sync of {ctx.app_ref.name} to {head[:12]} requested")
            return
    dep = api.get(ctx.deployment_ref)
    if dep is not None and (_canon(dep["spec"].get("template")) != _canon(b.deployment_template)
                            or dep["spec"].get("replicas") != b.replicas):
        api.json_patch(ctx.deployment_ref, [
            {"op": "replace", "path": "/spec/template", "value": copy.deepcopy(b.deployment_template)},
            {"op": "replace", "path": "/spec/replicas", "value": b.replicas},
        ])
        result.actions.append(f"kubectl -n {ctx.namespace} apply: deployment/{ctx.deployment_ref.name} pod template "
                              f"and replicas ({b.replicas}) put back")
        ctx.note(EventKind.RESTORE_REPAIRED, f"deployment/{ctx.deployment_ref.name} spec put back through the API")
    for key, manifest in b.resources.items():
        kind, name = key.split("/", 1)
        ref = ResourceRef(kind, ctx.namespace, name)
        if api.get(ref) is None:
            api.create(copy.deepcopy(manifest))
            result.actions.append(f"kubectl -n {ctx.namespace} apply -f {kind.lower()}-{name}.yaml")
            ctx.note(EventKind.RESTORE_REPAIRED, f"{kind.lower()}/{name} recreated from the saved manifest")


def manual_commands(ctx: DrillContext, remaining: list[str]) -> list[str]:
    """What a person runs to finish the job, for what is still different (everything if unknown)."""
    unknown = not remaining or any(r.startswith("restore ") for r in remaining)
    b = ctx.baseline
    undo = list(ctx.injection.undo_commands) if ctx.injection else []
    cmds: list[str] = []
    if unknown or any(r.startswith("git:") for r in remaining):
        cmds += [c for c in undo if c.startswith(("git ", "argocd app get"))]
    if ctx.app_ref is not None and b is not None and (unknown or any(r.startswith("argocd:") for r in remaining)):
        want = (b.app_sync_policy or {}).get("automated")
        if want:
            cmds.append(shlex.join(["argocd", "app", "set", ctx.app_ref.name, "--sync-policy", "automated"]
                                   + (["--self-heal"] if want.get("selfHeal") else []) + (["--auto-prune"] if want.get("prune") else [])))
    if b is not None and b.helm_revision is not None and (unknown or any(r.startswith("helm:") for r in remaining)):
        cmds.append(shlex.join(["helm", "rollback", ctx.release, str(b.helm_revision), "-n", ctx.namespace]))
    live = unknown or any(not r.startswith(("git:", "argocd:", "helm:")) for r in remaining)
    if live:
        if ctx.app_ref is not None:
            cmds.append(shlex.join(["argocd", "app", "sync", ctx.app_ref.name]))
        else:
            cmds += [c for c in undo if c.startswith("kubectl ")]
        cmds.append(shlex.join(["kubectl", "-n", ctx.namespace, "rollout", "status", f"deployment/{ctx.deployment_ref.name}"]))
    return list(dict.fromkeys(cmds))


def _refresh_view(ctx: DrillContext) -> None:
    """Read the objects restore judges straight from the API: the view may lag (the drill can be
    interrupted between a change and the watch event that reports it)."""
    b = ctx.baseline
    assert b is not None
    refs = [ctx.deployment_ref] + ([ctx.app_ref] if ctx.app_ref else [])
    refs += [ResourceRef(k.split("/", 1)[0], ctx.namespace, k.split("/", 1)[1]) for k in b.resources]
    now = ctx.target.clock.monotonic()
    for ref in refs:
        obj = ctx.target.api.get(ref)
        if obj is not None:
            obj.setdefault("kind", ref.kind)
            ctx.view.apply(Observation(now, "MODIFIED", ref.kind, obj))
        elif ctx.view.get(ref.kind, ref.namespace, ref.name) is not None:
            ctx.view.apply(Observation(now, "DELETED", ref.kind, {"metadata": {"name": ref.name, "namespace": ref.namespace}}))


def restore(ctx: DrillContext, watch: Watch, deadline: float) -> RestoreResult:
    """Put the target back; never raises for target errors (they become manual repair)."""
    if ctx.baseline is None:
        return RestoreResult(RestoreStatus.SKIPPED)
    clock = ctx.target.clock
    result = RestoreResult(RestoreStatus.CLEAN)
    try:
        _refresh_view(ctx)
        src = source_differences(ctx)
        if src:
            _repair_sources(ctx, result)
        # Give the controllers time to converge on what was just fixed (an Argo CD sync, a rollout).
        # When nothing declarative changed, only self-heal or a rollout in flight can still help:
        # wait less before repairing directly.
        settle = (deadline - clock.monotonic()) / 2
        if not src and not (ctx.app is not None and argocd.self_heal_enabled(ctx.app)):
            settle = min(settle, SETTLE_WITHOUT_SOURCE_REPAIR)
        remaining = _wait(ctx, watch, clock.monotonic() + settle)
        if remaining:
            _repair_live(ctx, result)
            remaining = _wait(ctx, watch, deadline)
        if not remaining:
            _settle_sync_revision(ctx, watch, deadline, result)
        remaining = source_differences(ctx) + remaining
    except TargetError as exc:
        remaining = [f"restore stopped: {exc}"]
    result.remaining = remaining
    if remaining:
        result.status = RestoreStatus.NEEDS_MANUAL_REPAIR
        result.manual_commands = manual_commands(ctx, remaining)
        ctx.note(EventKind.MANUAL_REPAIR_NEEDED, "target needs manual repair: " + "; ".join(remaining))
    else:
        result.status = RestoreStatus.REPAIRED if result.actions else RestoreStatus.CLEAN
        result.verified_at = clock.monotonic()
        ctx.note(EventKind.RESTORE_VERIFIED, "target verified back to its pre-drill state"
                 + (f" after {len(result.actions)} repair(s)" if result.actions else ""))
    return result
