"""The target boundary: small protocols that speak plain data (dicts shaped like API objects).

The engine, faults and rollbacks see a target only through these ports:

* ``ClusterApi``: read and change Kubernetes objects (the official client on a real cluster).
* ``GitOps``: the GitOps repository an Argo CD Application syncs from (real ``git`` on a real target).
* ``Helm``: Helm releases (the ``helm`` CLI on a real target; Helm has no Python API).
* ``Watch``: the observations the runner times detection and recovery with.

The simulated target implements all of them in memory on a virtual clock; nothing above this
layer knows which one it talks to, except that reports say when a target was simulated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from runner.clock import Clock
from runner.view import Obj, Observation

API_VERSIONS = {
    "Pod": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Event": "v1",
    "Endpoints": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "EndpointSlice": "discovery.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "Application": "argoproj.io/v1alpha1",
    "Lease": "coordination.k8s.io/v1",
}


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Names one namespaced object."""

    kind: str
    namespace: str
    name: str

    @property
    def api_version(self) -> str:
        return API_VERSIONS.get(self.kind, "v1")

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} -n {self.namespace}"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What reports say about the target."""

    name: str
    kind: str  # "sim" | "kube"
    simulated: bool
    description: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WatchScope:
    """What a drill needs watched, started before injection."""

    namespace: str
    kinds: frozenset[str]
    application: str | None = None
    argocd_namespace: str = "argocd"
    label_selector: Mapping[str, str] | None = None


class ClusterApi(Protocol):
    """Reads and changes of Kubernetes objects. Errors are ``runner.errors.TargetError`` subclasses."""

    def get(self, ref: ResourceRef) -> Obj | None:
        """The object, or None if it does not exist."""
        ...

    def list(self, kind: str, namespace: str, labels: Mapping[str, str] | None = None) -> list[Obj]:
        """Objects of ``kind`` in ``namespace`` whose labels include ``labels``."""
        ...

    def create(self, manifest: Obj) -> Obj:
        """Create an object from a manifest (metadata.namespace set)."""
        ...

    def delete(self, ref: ResourceRef) -> None:
        """Delete an object (foreground propagation is not required)."""
        ...

    def merge_patch(self, ref: ResourceRef, patch: Obj, resource_version: str | None = None) -> Obj:
        """JSON merge patch (RFC 7386); with ``resource_version`` the write fails on conflict."""
        ...

    def json_patch(self, ref: ResourceRef, ops: Sequence[Obj]) -> Obj:
        """JSON patch (RFC 6902): a list of ``{op, path, value}``."""
        ...

    def set_container(
        self, ref: ResourceRef, container: str, *, image: str | None = None, readiness_path: str | None = None
    ) -> Obj:
        """Strategic-merge patch of one container of a Deployment's pod template (by name)."""
        ...

    def scale(self, ref: ResourceRef, replicas: int) -> Obj:
        """Set replicas through the scale subresource, as ``kubectl scale`` does."""
        ...


class GitOps(Protocol):
    """The GitOps repository (one branch) an Application syncs from."""

    url: str
    """Display form of the repository, never with credentials."""
    branch: str

    def head(self) -> str:
        """SHA of the branch tip (after fetching)."""
        ...

    def read(self, path: str, rev: str | None = None) -> str | None:
        """File content at ``rev`` (default: the branch tip), or None if absent."""
        ...

    def commit_file(self, path: str, content: str, message: str) -> str:
        """Write one file, commit with ``message``, push; returns the new commit's SHA."""
        ...

    def revert(self, sha: str, message: str | None = None) -> str:
        """``git revert`` one commit and push; returns the revert commit's SHA."""
        ...

    def tree_id(self, path: str, rev: str | None = None) -> str:
        """Git tree id of ``path`` at ``rev``: equal ids mean identical content."""
        ...


@dataclass(frozen=True, slots=True)
class HelmRevision:
    """One line of ``helm history -o json``."""

    revision: int
    status: str
    description: str = ""
    chart: str = ""
    updated: str = ""


class Helm(Protocol):
    """Helm releases."""

    def history(self, release: str, namespace: str) -> list[HelmRevision]:
        ...

    def values(self, release: str, namespace: str, revision: int | None = None) -> dict[str, Any]:
        """User-supplied values of a revision (``helm get values``)."""
        ...

    def upgrade(self, release: str, namespace: str, sets: Mapping[str, str], *, reuse_values: bool = True) -> int:
        """``helm upgrade --reuse-values --set k=v...`` of the release's current chart; returns the revision."""
        ...

    def rollback(self, release: str, namespace: str, revision: int) -> int:
        """``helm rollback RELEASE REVISION``; returns the new revision number."""
        ...

    def chart_ref(self, release: str, namespace: str) -> str:
        """How a person names the release's chart on the command line (a path or repo/chart)."""
        ...


class Watch(Protocol):
    """A stream of observations, each stamped on the runner's clock when it arrived."""

    def next(self, deadline: float) -> Observation | None:
        """The next observation, or None once the clock reaches ``deadline`` (monotonic seconds)."""
        ...

    def inject(self, obs: Observation) -> None:
        """Deliver an observation from outside the cluster (a person's message), from any thread."""
        ...

    def close(self) -> None:
        ...


class Target(Protocol):
    """Everything a drill run needs from where it runs."""

    info: TargetInfo
    clock: Clock
    api: ClusterApi
    helm: Helm | None

    def gitops_for(self, repo_url: str) -> GitOps | None:
        """The GitOps repository with that URL, or None when this target cannot reach it."""
        ...

    def watch(self, scope: WatchScope) -> Watch:
        """Start watching ``scope``; observations begin with the current state (ADDED)."""
        ...

    def close(self) -> None:
        ...
