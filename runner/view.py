"""The runner's picture of the target, built only from watch observations.

A ``ClusterView`` is a cache of the objects the drill watches (Pods, Deployments, ReplicaSets,
Events, Services, the Argo CD Application...), keyed by kind, namespace and name, plus the
monotonic time at which each object's latest change *arrived*. Signals are evaluated on it.
Pure: it never reads the cluster; targets feed it ``Observation`` records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping

Obj = dict[str, Any]
Key = tuple[str, str, str]  # kind, namespace, name


@dataclass(frozen=True, slots=True)
class Observation:
    """One watch event as it arrived at the runner.

    Attributes:
        at: the runner's monotonic clock when the event was received (seconds).
        type: ``ADDED``, ``MODIFIED`` or ``DELETED`` (also ``RELISTED`` after a 410 re-list).
        kind: the object's kind, e.g. ``Pod``, ``Application``.
        obj: the object as plain JSON-like data (the last state for DELETED).
    """

    at: float
    type: str
    kind: str
    obj: Obj

    @property
    def key(self) -> Key:
        md = self.obj.get("metadata") or {}
        return (self.kind, md.get("namespace") or "", md.get("name") or "")


@dataclass
class ClusterView:
    """Latest known state of every watched object."""

    objects: dict[Key, Obj] = field(default_factory=dict)
    changed_at: dict[Key, float] = field(default_factory=dict)
    deleted_at: dict[Key, float] = field(default_factory=dict)
    baseline_rvs: dict[Key, str] = field(default_factory=dict)
    """resourceVersions of what existed before injection (see ``mark_baseline``)."""
    tombstones: dict[Key, Obj] = field(default_factory=dict)
    """Last state of deleted objects (to recognise replayed history)."""
    ever_ready: set[Key] = field(default_factory=set)
    """Pods seen with Ready=True at some point: a later Ready=False is a real transition."""
    last_at: float = 0.0

    def apply(self, obs: Observation) -> Obj | None:
        """Fold one observation in; returns the previous state of the object (or None)."""
        key = obs.key
        before = self.objects.get(key)
        if before is not None and obs.type != "DELETED" and _rv(before) is not None and _rv(before) == _rv(obs.obj):
            # a re-list after 410 Gone (or a resync) repeats unchanged objects: not a change
            return before
        if _older(obs.obj, before if before is not None else self.tombstones.get(key)):
            # a watch resumed from an old resourceVersion replays history (the apiserver's watch cache
            # serves it): an older state than the one already seen must not overwrite it
            return before
        if obs.type == "DELETED":
            self.objects.pop(key, None)
            self.deleted_at[key] = obs.at
            self.tombstones[key] = obs.obj
        else:
            self.objects[key] = obs.obj
            self.deleted_at.pop(key, None)
            if obs.kind == "Pod" and (condition(obs.obj, "Ready") or {}).get("status") == "True":
                self.ever_ready.add(key)
        self.changed_at[key] = obs.at
        self.last_at = max(self.last_at, obs.at)
        return before

    def mark_baseline(self) -> None:
        """Remember the version of every object as it was before injection."""
        self.baseline_rvs = {k: rv for k, o in self.objects.items() if (rv := _rv(o)) is not None}

    def new_since_baseline(self, key: Key) -> bool:
        """Whether the object changed (or appeared) after ``mark_baseline``."""
        obj = self.objects.get(key)
        rv = _rv(obj) if obj is not None else None
        return rv is None or self.baseline_rvs.get(key) != rv

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((kind, namespace, name))

    def of_kind(self, kind: str, namespace: str | None = None) -> Iterator[Obj]:
        for (k, ns, _), obj in self.objects.items():
            if k == kind and (namespace is None or ns == namespace):
                yield obj

    def pods_of(self, deployment: Obj) -> list[Obj]:
        """Pods selected by the Deployment's ``spec.selector.matchLabels`` (not terminating)."""
        ns = deployment["metadata"].get("namespace", "")
        want = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = []
        for pod in self.of_kind("Pod", ns):
            labels = pod["metadata"].get("labels") or {}
            if want and all(labels.get(k) == v for k, v in want.items()):
                if not pod["metadata"].get("deletionTimestamp"):
                    pods.append(pod)
        return sorted(pods, key=lambda p: p["metadata"]["name"])


def _rv(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _older(new: Obj, seen: Obj | None) -> bool:
    """Whether ``new`` is an older version of ``seen`` (same uid, smaller resourceVersion).

    resourceVersions are opaque by API convention; every etcd-backed apiserver issues increasing
    integers, so they are compared only when both are integers and the uid is the same object.
    """
    if seen is None:
        return False
    a, b = _rv(new), _rv(seen)
    uid_a, uid_b = (new.get("metadata") or {}).get("uid"), (seen.get("metadata") or {}).get("uid")
    if not (a and b and a.isdigit() and b.isdigit()) or uid_a != uid_b:
        return False
    return int(a) < int(b)


def parse_api_time(value: object) -> datetime | None:
    """Parse a Kubernetes timestamp (``2026-01-05T09:00:03Z`` or with micro-seconds)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def condition(obj: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    """The status condition of type ``ctype`` or None."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c  # type: ignore[no-any-return]
    return None


def rollout_complete(dep: Mapping[str, Any]) -> tuple[bool, str]:
    """kubectl's ``rollout status`` predicate for a Deployment (rollout_status.go), and why.

    Also what Argo CD's Deployment health check copies. Checks ``observedGeneration`` first so
    that a stale status right after a patch never looks complete.
    """
    md, spec, st = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    if (md.get("generation") or 0) > (st.get("observedGeneration") or 0):
        return False, "waiting for deployment spec update to be observed"
    prog = condition(dep, "Progressing")
    if prog and prog.get("reason") == "ProgressDeadlineExceeded":
        return False, f"deployment {md.get('name')!r} exceeded its progress deadline"
    want = spec.get("replicas", 1)
    updated = st.get("updatedReplicas") or 0
    if updated < want:
        return False, f"{updated} out of {want} new replicas have been updated"
    if (st.get("replicas") or 0) > updated:
        return False, f"{(st.get('replicas') or 0) - updated} old replicas are pending termination"
    if (st.get("availableReplicas") or 0) < updated:
        return False, f"{st.get('availableReplicas') or 0} of {updated} updated replicas are available"
    return True, "successfully rolled out"
