"""``--dry-run``: run preflight and injection against a target whose writes are recorded, not
made, and show every change as a diff.

Reads go to the real target (so the diffs are against the live state); every write of the
``ClusterApi``, ``GitOps`` and ``Helm`` ports is computed locally and recorded instead. Nothing
on the target changes. Rollback and restore depend on what the cluster does after injection, so
they are listed as the steps that would follow, not diffed.
"""
from __future__ import annotations

import copy
import difflib
import shlex
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from runner.patches import json_patch, merge_patch
from runner.targets.base import ClusterApi, GitOps, Helm, HelmRevision, ResourceRef, Target, WatchScope, Watch
from runner.values import helm_set_args
from runner.view import Obj


@dataclass(frozen=True)
class Change:
    what: str
    diff: str


def _yaml(obj: Any) -> list[str]:
    return yaml.safe_dump(obj, sort_keys=False).splitlines(keepends=True) if obj is not None else []


def udiff(before: str | list[str], after: str | list[str], name: str) -> str:
    a = before.splitlines(keepends=True) if isinstance(before, str) else before
    b = after.splitlines(keepends=True) if isinstance(after, str) else after
    return "".join(difflib.unified_diff(a, b, f"a/{name}", f"b/{name}"))


def _strip(obj: Obj | None) -> Obj | None:
    if obj is None:
        return None
    o = copy.deepcopy(obj)
    o.pop("status", None)
    md = o.get("metadata") or {}
    for k in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
        md.pop(k, None)
    return o


class RecordingApi:
    def __init__(self, real: ClusterApi, changes: list[Change]) -> None:
        self.real, self.changes = real, changes

    def get(self, ref: ResourceRef) -> Obj | None:
        return self.real.get(ref)

    def list(self, kind: str, namespace: str, labels: Mapping[str, str] | None = None) -> list[Obj]:
        return self.real.list(kind, namespace, labels)

    def _record(self, what: str, ref: ResourceRef, before: Obj | None, after: Obj | None) -> Obj:
        self.changes.append(Change(what, udiff(_yaml(_strip(before)), _yaml(_strip(after)), f"{ref.kind.lower()}/{ref.name}")))
        return after or before or {}

    def create(self, manifest: Obj) -> Obj:
        md = manifest["metadata"]
        return self._record(f"kubectl -n {md['namespace']} create {manifest['kind'].lower()} {md['name']}",
                            ResourceRef(manifest["kind"], md["namespace"], md["name"]), None, manifest)

    def delete(self, ref: ResourceRef) -> None:
        self._record(f"kubectl -n {ref.namespace} delete {ref.kind.lower()} {ref.name}", ref, self.real.get(ref), None)

    def merge_patch(self, ref: ResourceRef, patch: Obj, resource_version: str | None = None) -> Obj:
        before = self.real.get(ref)
        return self._record(f"merge patch {ref}", ref, before, merge_patch(before, patch))

    def json_patch(self, ref: ResourceRef, ops: Sequence[Obj]) -> Obj:
        before = self.real.get(ref) or {}
        return self._record(f"JSON patch {ref}", ref, before, json_patch(before, ops))

    def set_container(self, ref: ResourceRef, container: str, *, image: str | None = None,
                      readiness_path: str | None = None) -> Obj:
        before = self.real.get(ref) or {}
        after = copy.deepcopy(before)
        for c in after.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            if c["name"] == container:
                if image is not None:
                    c["image"] = image
                if readiness_path is not None:
                    c.setdefault("readinessProbe", {}).setdefault("httpGet", {})["path"] = readiness_path
        return self._record(f"strategic merge patch {ref} container {container}", ref, before, after)

    def scale(self, ref: ResourceRef, replicas: int) -> Obj:
        before = self.real.get(ref) or {}
        after = copy.deepcopy(before)
        after.setdefault("spec", {})["replicas"] = replicas
        return self._record(f"kubectl -n {ref.namespace} scale {ref.kind.lower()}/{ref.name} --replicas={replicas}", ref, before, after)


class RecordingGit:
    def __init__(self, real: GitOps, changes: list[Change]) -> None:
        self.real, self.changes = real, changes
        self.url, self.branch = real.url, real.branch

    def head(self) -> str:
        return self.real.head()

    def read(self, path: str, rev: str | None = None) -> str | None:
        return self.real.read(path, rev)

    def commit_file(self, path: str, content: str, message: str) -> str:
        self.changes.append(Change(f"git commit -m {shlex.quote(message)} && git push origin {self.branch}  ({self.url})",
                                   udiff(self.real.read(path) or "", content, path)))
        return "0" * 40

    def revert(self, sha: str, message: str | None = None) -> str:
        self.changes.append(Change(f"git revert --no-edit {sha[:12]} && git push", ""))
        return "0" * 40

    def tree_id(self, path: str, rev: str | None = None) -> str:
        return self.real.tree_id(path, rev)


class RecordingHelm:
    def __init__(self, real: Helm, changes: list[Change]) -> None:
        self.real, self.changes = real, changes

    def history(self, release: str, namespace: str) -> list[HelmRevision]:
        return self.real.history(release, namespace)

    def values(self, release: str, namespace: str, revision: int | None = None) -> dict[str, Any]:
        return self.real.values(release, namespace, revision)

    def upgrade(self, release: str, namespace: str, sets: Mapping[str, str], *, reuse_values: bool = True) -> int:
        before = self.real.values(release, namespace)
        after = copy.deepcopy(before) if reuse_values else {}
        for k, v in helm_set_args(sets).items():
            node = after
            parts = k.split(".")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = v
        args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
        self.changes.append(Change(shlex.join(["helm", "upgrade", release, self.real.chart_ref(release, namespace), "-n", namespace,
                                               *(["--reuse-values"] if reuse_values else []), *args]),
                                   udiff(_yaml(before), _yaml(after), f"helm values {namespace}/{release}")))
        hist = self.real.history(release, namespace)
        return (hist[-1].revision + 1) if hist else 1

    def rollback(self, release: str, namespace: str, revision: int) -> int:
        self.changes.append(Change(f"helm rollback {release} {revision} -n {namespace}", ""))
        return revision

    def chart_ref(self, release: str, namespace: str) -> str:
        return self.real.chart_ref(release, namespace)


class DryRunTarget:
    """The target's reads, with writes recorded in ``changes``."""

    def __init__(self, real: Target) -> None:
        self.real = real
        self.changes: list[Change] = []
        self.info = real.info
        self.clock = real.clock
        self.api = RecordingApi(real.api, self.changes)
        self.helm = RecordingHelm(real.helm, self.changes) if real.helm is not None else None

    def gitops_for(self, repo_url: str) -> RecordingGit | None:
        git = self.real.gitops_for(repo_url)
        return RecordingGit(git, self.changes) if git is not None else None

    def watch(self, scope: WatchScope) -> Watch:
        return self.real.watch(scope)

    def close(self) -> None:
        self.real.close()
