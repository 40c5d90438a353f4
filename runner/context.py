"""Run-time records shared by the engine, faults, rollbacks and restore.

``Baseline`` is the pre-drill state captured before anything changes; ``InjectionRecord`` what
the fault changed and how a person would undo it; ``RollbackRecord`` what the rollback did, as
the commands a person would have typed; ``DrillContext`` bundles them with the target and clock
for one run. Plain data; the only behaviour is bookkeeping.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner import argocd
from runner.kinds import Phase
from runner.targets.base import GitOps, ResourceRef, Target
from runner.timeline import EventKind, Timeline
from runner.view import ClusterView, Obj

if TYPE_CHECKING:
    from runner.model import Drill


@dataclass
class Baseline:
    """The target as it was before the drill: what restore puts back and verifies."""

    deployment_template: Obj
    replicas: int
    deployment_generation: int = 0
    deployment_revision: str | None = None
    git_head: str | None = None
    git_files: dict[str, str] = field(default_factory=dict)
    helm_revision: int | None = None
    helm_values: dict[str, Any] | None = None
    app_sync_policy: Obj | None = None
    app_history_id: int | None = None
    app_revision: str | None = None
    app_healthy: bool = True
    app_synced_at_head: bool = False
    """Argo CD's last sync was at the revision it compared against (restore keeps it that way)."""
    resources: dict[str, Obj] = field(default_factory=dict)
    """Manifests of objects the fault deletes, keyed ``Kind/name``."""


@dataclass
class InjectionRecord:
    """What the fault changed."""

    at: float
    description: str
    commands: list[str]
    undo_commands: list[str]
    commit: str | None = None
    helm_revision: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class RollbackRecord:
    """What the rollback strategy did."""

    strategy: str
    started_at: float
    finished_at: float | None = None
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class DrillContext:
    """Everything one drill run shares between phases."""

    drill: Drill
    target: Target
    timeline: Timeline
    view: ClusterView
    app: Obj | None = None
    gitops: GitOps | None = None
    baseline: Baseline | None = None
    injection: InjectionRecord | None = None
    rollback: RollbackRecord | None = None
    expected_revision: str | None = None
    app_specs: list[Obj] = field(default_factory=list)
    """Application specs this drill has seen or made (baseline, then each of its own writes);
    a spec outside this list is someone else's change. A list, not the last one: watch events
    written before our change can still be in the queue when our write returns."""
    app_changed_by_someone: bool = False
    phase: Phase = Phase.PREFLIGHT

    @property
    def namespace(self) -> str:
        return self.drill.spec.target.namespace

    @property
    def deployment_ref(self) -> ResourceRef:
        t = self.drill.spec.target
        return ResourceRef("Deployment", t.namespace, t.deployment)

    @property
    def app_ref(self) -> ResourceRef | None:
        t = self.drill.spec.target
        return argocd.app_ref(t.application, t.argocd_namespace) if t.application else None

    @property
    def release(self) -> str:
        """The Helm release name: the target's ``release`` or the Application's ``helm.releaseName``."""
        t = self.drill.spec.target
        if t.release:
            return t.release
        if self.app is not None:
            rn = argocd.source(self.app).release_name
            if rn:
                return rn
        return t.application or t.deployment

    def note(self, kind: EventKind, message: str, **data: Any) -> None:
        self.timeline.record(kind, message, phase=self.phase, **data)

    def container_name(self, deployment: Obj) -> str:
        """The drill's container: ``target.container`` or the pod template's first container."""
        want = self.drill.spec.target.container
        containers = deployment["spec"]["template"]["spec"]["containers"]
        if want:
            for c in containers:
                if c["name"] == want:
                    return want
            raise LookupError(f"deployment {self.drill.spec.target.deployment} has no container {want!r}")
        return str(containers[0]["name"])

    def live_container(self) -> Obj:
        """The drill's container as the live Deployment has it now (for API injections)."""
        dep = self.target.api.get(self.deployment_ref)
        if dep is None:
            raise LookupError(f"deployment {self.deployment_ref} not found")
        name = self.container_name(dep)
        return next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == name)
