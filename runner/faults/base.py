"""What every fault has in common: parameters, the paths it can be injected through, and the
shared Git and Helm injection paths (a values change committed to Git, or ``helm upgrade --set``).

A fault module subclasses ``Fault``: it declares its parameter model, the values keys it
changes (for Git and Helm) and how to inject through the API. The commands recorded are what a
person would have typed, for the report and for manual repair.
"""
from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from runner import argocd, values
from runner.context import DrillContext, InjectionRecord
from runner.errors import FaultInjectionError
from runner.kinds import InjectVia
from runner.timeline import EventKind
from runner.view import Observation

if TYPE_CHECKING:
    from runner.model import DrillSpec


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Fault(ABC):
    """One kind of fault."""

    kind: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[FaultParams]]
    vias: ClassVar[frozenset[InjectVia]] = frozenset(InjectVia)
    changes_pod_template: ClassVar[bool] = False
    """True when the fault changes the pod template (a new ReplicaSet: rollout undo applies)."""

    def describe(self, params: Any) -> str:
        return f"{self.kind} {params.model_dump(by_alias=True)}"

    def check(self, spec: DrillSpec) -> list[tuple[str, str]]:
        """Static problems as (field path under spec, message); the loader adds file:line."""
        return []

    def extra_watch_kinds(self, params: Any) -> tuple[str, ...]:
        return ()

    def capture(self, ctx: DrillContext) -> None:
        """Save what restore needs beyond the Deployment and Git/Helm state (e.g. a manifest)."""

    def landed(self, ctx: DrillContext, obs: Observation) -> bool:
        """Whether this watch observation shows the injected change in the cluster.

        The engine times injection by the arrival of this observation, on the same watch and
        clock as detection, so their latencies cancel. Default: the target Deployment's spec
        changed (its generation moved past the baseline's). Git injections land with the push.
        """
        if ctx.drill.spec.fault.via is InjectVia.GIT or ctx.baseline is None:
            return False
        return (obs.kind == "Deployment" and obs.type != "DELETED"
                and obs.obj["metadata"].get("name") == ctx.deployment_ref.name
                and (obs.obj["metadata"].get("generation") or 0) > ctx.baseline.deployment_generation)

    def values_changes(self, params: Any) -> dict[str, Any]:
        """Values keys (dotted) and their new values, for the Git and Helm paths."""
        raise NotImplementedError(f"{self.kind} cannot be injected through values")

    @abstractmethod
    def inject_api(self, ctx: DrillContext, params: Any) -> InjectionRecord:
        """Inject through the Kubernetes API."""

    def inject(self, ctx: DrillContext) -> InjectionRecord:
        fault = ctx.drill.spec.fault
        if fault.via is InjectVia.GIT:
            return inject_git(ctx, self.values_changes(fault.params), self.describe(fault.params))
        if fault.via is InjectVia.HELM:
            return inject_helm(ctx, self.values_changes(fault.params), self.describe(fault.params))
        return self.inject_api(ctx, fault.params)


def _sets(changes: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.helm_set_args(changes).items())


def inject_git(ctx: DrillContext, changes: dict[str, Any], what: str) -> InjectionRecord:
    """Commit the values change to the app's values file, push, and ask Argo CD to refresh."""
    if ctx.app is None or ctx.gitops is None or ctx.app_ref is None:
        raise FaultInjectionError("via: git needs an Argo CD application whose repository this target can reach")
    src = argocd.source(ctx.app)
    path = src.values_file
    before = ctx.gitops.read(path)
    if before is None:
        raise FaultInjectionError(f"values file {path} not found in {ctx.gitops.url}")
    message = f"drill {ctx.drill.metadata.name}: set {_sets(changes)} (release-drills)"
    sha = ctx.gitops.commit_file(path, values.set_values(before, changes), message)
    ctx.expected_revision = sha
    commands = [
        f"# edit {path}: {_sets(changes)}",
        shlex.join(["git", "commit", "-am", message]),
        shlex.join(["git", "push", "origin", ctx.gitops.branch]),
    ]
    if not ctx.drill.spec.fault.wait_for_poll:
        argocd.request_refresh(ctx.target.api, ctx.app_ref)
        commands.append(shlex.join(["argocd", "app", "get", ctx.app_ref.name, "--refresh"]))
        ctx.note(EventKind.NOTE, f"asked Argo CD to refresh {ctx.app_ref.name} (no wait for the polling period)")
    return InjectionRecord(
        at=ctx.target.clock.monotonic(),
        description=f"{what} via git: commit {sha[:12]} to {path}",
        commands=commands,
        undo_commands=[
            shlex.join(["git", "revert", "--no-edit", sha]),
            shlex.join(["git", "push", "origin", ctx.gitops.branch]),
            shlex.join(["argocd", "app", "get", ctx.app_ref.name, "--refresh"]),
        ],
        commit=sha,
        details={"values_file": path, "changes": changes, "repository": ctx.gitops.url},
    )


def inject_helm(ctx: DrillContext, changes: dict[str, Any], what: str) -> InjectionRecord:
    """``helm upgrade --reuse-values --set ...`` on the target's release."""
    helm = ctx.target.helm
    if helm is None:
        raise FaultInjectionError("via: helm needs the helm CLI on this target")
    if ctx.app is not None:
        raise FaultInjectionError(
            f"refusing via: helm on Argo CD application {ctx.drill.spec.target.application}: Argo CD owns "
            "that release and would revert the change; inject via git instead"
        )
    release, ns = ctx.release, ctx.namespace
    before = helm.history(release, ns)
    if not before:
        raise FaultInjectionError(f"no Helm release {release} in namespace {ns}")
    revision = helm.upgrade(release, ns, values.helm_set_args(changes), reuse_values=True)
    chart = helm.chart_ref(release, ns)
    set_args = [a for k, v in values.helm_set_args(changes).items() for a in ("--set", f"{k}={v}")]
    return InjectionRecord(
        at=ctx.target.clock.monotonic(),
        description=f"{what} via helm: release {release} revision {before[-1].revision} -> {revision}",
        commands=[shlex.join(["helm", "upgrade", release, chart, "-n", ns, "--reuse-values", *set_args])],
        undo_commands=[shlex.join(["helm", "rollback", release, str(before[-1].revision), "-n", ns])],
        helm_revision=revision,
        details={"release": release, "changes": changes, "revision_before": before[-1].revision},
    )


def image_with_tag(image: str, tag: str) -> str:
    """``repo[:tag]`` -> ``repo:tag``; a registry port (``host:5000/app``) is not a tag."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return f"{name}:{tag}"
