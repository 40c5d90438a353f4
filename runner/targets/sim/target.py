"""``SimTarget``: the embedded simulated cluster behind the same ports as a real cluster.

It boots the sample app from ``kind/platform-config`` (the GitOps repository content): an
in-memory Git repository with that content, Argo CD Applications for dev, stage and prod from
``envs/``, a plain Helm release (``sandbox/week6-api``), Deployments, ReplicaSets, Pods, a
kubelet, endpoints and Events, all on one ``VirtualClock``. ``boot`` runs the cluster until the
steady state holds, so a drill starts from a healthy system. Deterministic for a given seed.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from runner.clock import VirtualClock
from runner.errors import ResourceConflict, ResourceNotFound, TargetError, UsageError
from runner.targets.base import ResourceRef, TargetInfo, WatchScope
from runner.targets.sim.argocd import ArgoCDController
from runner.targets.sim.config import SimConfig
from runner.targets.sim.gitrepo import SimGit
from runner.targets.sim.helm import SimHelm
from runner.targets.sim.kernel import Kernel, SimWatch, Transition
from runner.targets.sim.kubelet import Kubelet
from runner.targets.sim.workloads import DeploymentController, EndpointsController, ReplicaSetController, Scheduler, terminate_pod
from runner.patches import json_patch, merge_patch
from runner.view import Obj, rollout_complete

CHART_PATH = "apps/week6-api"


def find_platform_config(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit else [Path.cwd() / "kind" / "platform-config",
                                              Path(__file__).resolve().parents[3] / "kind" / "platform-config"]
    for c in candidates:
        if c is not None and (c / CHART_PATH / "values.yaml").is_file():
            return c
    raise UsageError("the sim target needs the sample app's GitOps content (kind/platform-config); run from the "
                     "repository checkout or set platform_config in --sim-config")


def read_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


class SimApi:
    """``ClusterApi`` on the simulated store."""

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel

    def get(self, ref: ResourceRef) -> Obj | None:
        return self.k.get(ref.kind, ref.namespace, ref.name)

    def list(self, kind: str, namespace: str, labels: Mapping[str, str] | None = None) -> list[Obj]:
        out = []
        for o in self.k.list(kind, namespace):
            have = o["metadata"].get("labels") or {}
            if not labels or all(have.get(a) == b for a, b in labels.items()):
                out.append(copy.deepcopy(o))
        return sorted(out, key=lambda o: o["metadata"]["name"])

    def create(self, manifest: Obj) -> Obj:
        return self.k.create(manifest)

    def delete(self, ref: ResourceRef) -> None:
        obj = self.k.get(ref.kind, ref.namespace, ref.name)
        if obj is None:
            raise ResourceNotFound(ref.kind, ref.namespace, ref.name)
        if ref.kind == "Pod":
            terminate_pod(self.k, obj)
        else:
            self.k.delete(ref.kind, ref.namespace, ref.name)
            self.k.truth("resource-deleted", f"{ref.kind.lower()}/{ref.name}")

    def _must(self, ref: ResourceRef) -> Obj:
        obj = self.k.get(ref.kind, ref.namespace, ref.name)
        if obj is None:
            raise ResourceNotFound(ref.kind, ref.namespace, ref.name)
        return obj

    def merge_patch(self, ref: ResourceRef, patch: Obj, resource_version: str | None = None) -> Obj:
        obj = self._must(ref)
        if resource_version is not None and obj["metadata"]["resourceVersion"] != resource_version:
            raise ResourceConflict(f"{ref}: the object has been modified; please apply your changes to the latest version")
        return self.k.update(merge_patch(obj, patch))

    def json_patch(self, ref: ResourceRef, ops: Sequence[Obj]) -> Obj:
        return self.k.update(json_patch(self._must(ref), ops))

    def set_container(self, ref: ResourceRef, container: str, *, image: str | None = None,
                      readiness_path: str | None = None) -> Obj:
        obj = self._must(ref)
        for c in obj["spec"]["template"]["spec"]["containers"]:
            if c["name"] == container:
                if image is not None:
                    c["image"] = image
                if readiness_path is not None:
                    c.setdefault("readinessProbe", {}).setdefault("httpGet", {})["path"] = readiness_path
                return self.k.update(obj)
        raise ResourceNotFound("container", ref.namespace, container)

    def scale(self, ref: ResourceRef, replicas: int) -> Obj:
        obj = self._must(ref)
        obj["spec"]["replicas"] = replicas
        return self.k.update(obj)


class SimTarget:
    """The simulated cluster as a ``Target``."""

    def __init__(self, config: SimConfig | None = None, clock: VirtualClock | None = None, *,
                 record_history: bool = False) -> None:
        self.config = config or SimConfig()
        self.clock = clock or VirtualClock()
        self.kernel = Kernel(self.clock, self.config.seed, self.config.controllers.watch_latency, record_history)
        root = find_platform_config(self.config.platform_config)
        files = read_tree(root)
        apps = [yaml.safe_load(files[p]) for p in sorted(files) if p.startswith("envs/") and p.endswith(".yaml")]
        repo_url = apps[0]["spec"]["source"]["repoURL"] if apps else "https://example.invalid/platform-config.git"
        self.git = SimGit(repo_url, files)
        DeploymentController(self.kernel, self.config)
        ReplicaSetController(self.kernel, self.config)
        Scheduler(self.kernel, self.config)
        EndpointsController(self.kernel, self.config)
        self.kubelet = Kubelet(self.kernel, self.config)
        self.argocd = ArgoCDController(self.kernel, self.config, self.git)
        self.helm = SimHelm(self.kernel, files, CHART_PATH)
        self.api = SimApi(self.kernel)
        self.info = TargetInfo(
            name="sim", kind="sim", simulated=True,
            description="embedded simulated cluster (virtual clock; Kubernetes, kubelet, Argo CD, Helm and Git in memory)",
            details={"seed": self.config.seed, "argocd_version": self.config.argocd.version},
        )
        for app in apps:
            self.argocd.add(app)
            if not (app["spec"].get("syncPolicy") or {}).get("automated"):
                # prod syncs by hand: someone ran `argocd app sync` once, as after a first release
                self.argocd.start(app["metadata"]["name"], self.git.head(), None, None, automated=False, self_heal=False)
        for key, values_file in self.config.helm_releases.items():
            ns, release = key.split("/", 1)
            self.helm.install(release, ns, values_file)
        self.boot()

    def boot(self, limit: float = 300.0) -> None:
        """Run the cluster until every Deployment is rolled out and every app Synced and Healthy."""
        deadline = self.clock.monotonic() + limit
        while self.clock.monotonic() < deadline:
            self.kernel.run_until(self.clock.monotonic() + 1.0)
            if self.steady():
                self.kernel.run_until(self.clock.monotonic() + 2.0)
                return
        raise TargetError("simulated cluster did not reach a steady state while booting")

    def steady(self) -> bool:
        deps = self.kernel.list("Deployment")
        apps = self.kernel.list("Application")
        return bool(deps) and all(rollout_complete(d)[0] for d in deps) and all(
            (a.get("status") or {}).get("sync", {}).get("status") == "Synced"
            and (a.get("status") or {}).get("health", {}).get("status") == "Healthy" for a in apps)

    @property
    def transitions(self) -> list[Transition]:
        """Ground truth: what the simulated cluster did and exactly when."""
        return self.kernel.transitions

    def gitops_for(self, repo_url: str) -> SimGit | None:
        return self.git if repo_url == self.git.url else None

    def watch(self, scope: WatchScope) -> SimWatch:
        return self.kernel.watch(scope, self.config.pace)

    def advance(self, seconds: float) -> None:
        """Let simulated time pass (tests and scripted actors)."""
        self.kernel.run_until(self.clock.monotonic() + seconds)

    def close(self) -> None:
        pass
