"""Simulated Helm releases: revisions with their values and manifests, upgrade, rollback.

Like Helm: every upgrade and rollback is a new revision; the previous deployed one becomes
superseded; ``--reuse-values`` starts from the last release's user-supplied values; a rollback
copies an old revision's values and manifest and is described "Rollback to N". Unlike Helm:
no release Secrets, no hooks, no --wait (Helm's default without --wait returns at once too).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping

from runner.errors import TargetError
from runner.targets.base import HelmRevision
from runner.targets.sim.argocd import _merge_into
from runner.targets.sim.chart import CHART, CHART_VERSION, deep_merge, merged_values, render, set_dotted
from runner.targets.sim.kernel import Kernel


@dataclass
class Revision:
    revision: int
    status: str
    description: str
    config: dict[str, Any]
    manifests: list[dict[str, Any]]
    updated: str


class SimHelm:
    def __init__(self, k: Kernel, files: Mapping[str, str], chart_path: str) -> None:
        self.k = k
        self.files = dict(files)
        self.chart_path = chart_path
        self.releases: dict[tuple[str, str], list[Revision]] = {}

    def _render(self, release: str, ns: str, config: dict[str, Any]) -> list[dict[str, Any]]:
        values = deep_merge(merged_values(self.files, self.chart_path, []), config)
        manifests = render(values, release, ns)
        for m in manifests:
            m["metadata"].setdefault("annotations", {}).update(
                {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns})
        return manifests

    def _apply(self, manifests: list[dict[str, Any]]) -> None:
        for m in manifests:
            live = self.k.get(m["kind"], m["metadata"]["namespace"], m["metadata"]["name"])
            if live is None:
                self.k.create(m)
            else:
                _merge_into(live, m)
                self.k.update(live)

    def _record(self, release: str, ns: str, description: str, config: dict[str, Any], manifests: list[dict[str, Any]]) -> int:
        revs = self.releases.setdefault((ns, release), [])
        for r in revs:
            if r.status == "deployed":
                r.status = "superseded"
        n = revs[-1].revision + 1 if revs else 1
        revs.append(Revision(n, "deployed", description, copy.deepcopy(config), manifests, self.k.api_time()))
        self.k.truth("helm-revision", f"release/{release}", f"{n} {description}")
        return n

    def install(self, release: str, ns: str, values_file: str) -> int:
        import yaml

        config = yaml.safe_load(self.files[f"{self.chart_path}/{values_file}"]) or {}
        manifests = self._render(release, ns, config)
        self._apply(manifests)
        return self._record(release, ns, "Install complete", config, manifests)

    def _revs(self, release: str, ns: str) -> list[Revision]:
        revs = self.releases.get((ns, release))
        if not revs:
            raise TargetError(f"Error: release: not found ({release} in namespace {ns})")
        return revs

    # --- Helm port ------------------------------------------------------------------------

    def history(self, release: str, namespace: str) -> list[HelmRevision]:
        return [HelmRevision(r.revision, r.status, r.description, f"{CHART}-{CHART_VERSION}", r.updated)
                for r in self.releases.get((namespace, release), [])]

    def values(self, release: str, namespace: str, revision: int | None = None) -> dict[str, Any]:
        revs = self._revs(release, namespace)
        r = revs[-1] if revision is None else next((x for x in revs if x.revision == revision), None)
        if r is None:
            raise TargetError(f"Error: release: not found (revision {revision})")
        return copy.deepcopy(r.config)

    def upgrade(self, release: str, namespace: str, sets: Mapping[str, str], *, reuse_values: bool = True) -> int:
        revs = self._revs(release, namespace)
        config = copy.deepcopy(revs[-1].config) if reuse_values else {}
        for k, v in sets.items():
            set_dotted(config, k, v)
        manifests = self._render(release, namespace, config)
        self._apply(manifests)
        return self._record(release, namespace, "Upgrade complete", config, manifests)

    def rollback(self, release: str, namespace: str, revision: int) -> int:
        revs = self._revs(release, namespace)
        r = next((x for x in revs if x.revision == revision), None)
        if r is None:
            raise TargetError(f"Error: release has no {revision} version")
        self._apply(copy.deepcopy(r.manifests))
        return self._record(release, namespace, f"Rollback to {revision}", r.config, copy.deepcopy(r.manifests))

    def chart_ref(self, release: str, namespace: str) -> str:
        return f"./{self.chart_path}"
