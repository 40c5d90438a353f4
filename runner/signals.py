"""Detection and recovery signals: small predicates over the runner's ``ClusterView``.

A drill lists signals under ``detect`` (any/all) and ``recover`` (all/any), each as a one-key
mapping, e.g. ``- pod-waiting: {reasons: [ErrImagePull]}`` or ``- app-health: Degraded``.
Each signal here has a parameter model (validated by the loader, published in the JSON Schema)
and ``evaluate``, which answers "does it hold on this view right now, and on what evidence".
Pure: evaluation reads only the view and the ``SignalContext``; timing is the engine's job
(a signal counts from the moment the observation that made it true arrived).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runner.kinds import HealthStatus, SyncStatus
from runner.view import ClusterView, condition, parse_api_time, rollout_complete

# The reasons kubectl itself treats as warnings while waiting for a rollout
# (kubectl/pkg/polymorphichelpers/rollout_status.go); the default for pod-waiting.
DEFAULT_WAITING_REASONS = (
    "ErrImagePull",
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        # `deployment-available:` with nothing after it means "no parameters", like `{}`.
        return {} if data is None else data


class NoParams(_Params):
    """No parameters; write ``{}``."""


class PodWaitingParams(_Params):
    reasons: tuple[str, ...] = Field(
        default=DEFAULT_WAITING_REASONS,
        min_length=1,
        description="Container waiting reasons that count (default: kubectl's rollout warning reasons).",
    )


class ResourceParams(_Params):
    kind: str = Field(description="Kind of the object, e.g. Service.")
    name: str = Field(description="Name of the object in the drill's namespace.")


class ReplicasParams(_Params):
    replicas: int | None = Field(
        default=None, ge=0, description="Expected replicas; default: the count before the drill."
    )
    ready: bool = Field(default=True, description="Also require that many ready replicas.")


class EventParams(_Params):
    reason: str = Field(description="Event reason, e.g. Unhealthy, BackOff, Failed.")
    message: str | None = Field(default=None, description="Text the event message must contain.")
    type: Literal["Normal", "Warning"] | None = None
    kind: str | None = Field(default=None, description="Kind of the involved object, e.g. Pod.")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


@dataclass(frozen=True, slots=True)
class SignalContext:
    """What a signal needs to know about the drill to judge the view."""

    namespace: str
    deployment: str
    application: str | None = None
    argocd_namespace: str = "argocd"
    since: float = 0.0
    """Monotonic time of injection: events and deletions before it do not count."""
    baseline_replicas: int | None = None
    expected_revision: str | None = None
    """Git revision Argo CD must report for ``app-sync: Synced`` (None: any revision)."""


@dataclass(frozen=True, slots=True)
class Match:
    """Evidence that a signal holds."""

    subject: str
    detail: str
    api_time: datetime | None = None
    api_precision: str = "1s"


class Signal(ABC):
    """One kind of signal. Subclasses set ``name``, ``Params`` and implement ``evaluate``."""

    name: ClassVar[str]
    Params: ClassVar[Any]
    summary: ClassVar[str]
    needs_application: ClassVar[bool] = False
    watches: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def evaluate(self, params: Any, view: ClusterView, ctx: SignalContext) -> Match | None:
        """Return evidence if the signal holds on ``view``, else None."""

    def describe(self, params: Any) -> str:
        """``pod-waiting(reasons=ErrImagePull,ImagePullBackOff)``, ``app-health: Degraded``."""
        if isinstance(params, BaseModel):
            shown = params.model_dump(exclude_defaults=True, by_alias=True)
            args = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in shown.items())
            return f"{self.name}({args})" if args else self.name
        value = params.value if hasattr(params, "value") else params
        return f"{self.name}: {value}"


def _deployment(view: ClusterView, ctx: SignalContext) -> dict[str, Any] | None:
    return view.get("Deployment", ctx.namespace, ctx.deployment)


def _application(view: ClusterView, ctx: SignalContext) -> dict[str, Any] | None:
    if not ctx.application:
        return None
    return view.get("Application", ctx.argocd_namespace, ctx.application)


class PodWaiting(Signal):
    name = "pod-waiting"
    Params = PodWaitingParams
    summary = "A pod of the deployment has a container waiting with one of the given reasons."
    watches = ("Pod", "Deployment")

    def evaluate(self, params: PodWaitingParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        dep = _deployment(view, ctx)
        if dep is None:
            return None
        for pod in view.pods_of(dep):
            st = pod.get("status") or {}
            for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in params.reasons:
                    return Match(
                        subject=f"pod/{pod['metadata']['name']}",
                        detail=f"container {cs.get('name')} waiting: {waiting.get('reason')}"
                        + (f" ({waiting['message']})" if waiting.get("message") else ""),
                    )
        return None


class PodNotReady(Signal):
    name = "pod-not-ready"
    Params = NoParams
    summary = ("A running pod of the deployment is not Ready because its readiness probe fails "
               "(an Unhealthy readiness event for it arrived, or it was Ready before).")
    watches = ("Pod", "Deployment", "Event")

    def evaluate(self, params: NoParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        # A new container starts not ready: Ready=False alone is not a failure (a healthy rollout
        # looks the same for initialDelaySeconds). Evidence is a readiness probe failure or a
        # Ready -> NotReady transition.
        dep = _deployment(view, ctx)
        if dep is None:
            return None
        failing = {}
        for ev in view.of_kind("Event", ctx.namespace):
            involved = ev.get("involvedObject") or ev.get("regarding") or {}
            ekey = ("Event", ctx.namespace, ev["metadata"]["name"])
            seen = view.changed_at.get(ekey, 0.0)
            if (ev.get("reason") == "Unhealthy" and str(ev.get("message") or ev.get("note") or "").startswith("Readiness probe")
                    and involved.get("kind") == "Pod" and seen >= ctx.since and view.new_since_baseline(ekey)):
                failing[involved.get("name")] = ev
        for pod in view.pods_of(dep):
            st = pod.get("status") or {}
            ready = condition(pod, "Ready")
            started = all(cs.get("started") for cs in st.get("containerStatuses") or [{}])
            if st.get("phase") != "Running" or not started or not ready or ready.get("status") != "False":
                continue
            name = pod["metadata"]["name"]
            if name in failing or ("Pod", ctx.namespace, name) in view.ever_ready:
                why = (failing[name].get("message") if name in failing else "was Ready before")
                return Match(
                    subject=f"pod/{name}",
                    detail=f"Running but Ready=False: {why}",
                    api_time=parse_api_time(ready.get("lastTransitionTime")),
                )
        return None


class DeploymentAvailable(Signal):
    name = "deployment-available"
    Params = NoParams
    summary = "The deployment is fully rolled out (kubectl rollout status) and Available."
    watches = ("Deployment",)

    def evaluate(self, params: NoParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        dep = _deployment(view, ctx)
        if dep is None:
            return None
        done, why = rollout_complete(dep)
        avail = condition(dep, "Available")
        if done and avail and avail.get("status") == "True":
            prog = condition(dep, "Progressing") or {}
            return Match(
                subject=f"deployment/{ctx.deployment}",
                detail=why,
                api_time=parse_api_time(prog.get("lastUpdateTime")),
            )
        return None


class DeploymentProgressDeadline(Signal):
    name = "deployment-progress-deadline"
    Params = NoParams
    summary = "The deployment's Progressing condition is False with ProgressDeadlineExceeded."
    watches = ("Deployment",)

    def evaluate(self, params: NoParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        dep = _deployment(view, ctx)
        prog = condition(dep, "Progressing") if dep else None
        if prog and prog.get("status") == "False" and prog.get("reason") == "ProgressDeadlineExceeded":
            return Match(
                subject=f"deployment/{ctx.deployment}",
                detail=prog.get("message") or "ProgressDeadlineExceeded",
                api_time=parse_api_time(prog.get("lastUpdateTime")),
            )
        return None


class AppSync(Signal):
    name = "app-sync"
    Params = SyncStatus
    summary = "The Argo CD Application's sync status (Synced means: at the current Git revision)."
    needs_application = True
    watches = ("Application",)

    def evaluate(self, params: SyncStatus, view: ClusterView, ctx: SignalContext) -> Match | None:
        app = _application(view, ctx)
        if app is None:
            return None
        sync = (app.get("status") or {}).get("sync") or {}
        if sync.get("status") != params.value:
            return None
        rev = sync.get("revision") or ""
        if params is SyncStatus.SYNCED and ctx.expected_revision and rev != ctx.expected_revision:
            return None
        return Match(
            subject=f"application/{ctx.application}",
            detail=f"sync {sync.get('status')} at {rev[:12] or 'unknown revision'}",
            api_time=parse_api_time((app.get("status") or {}).get("reconciledAt")),
        )


class AppHealth(Signal):
    name = "app-health"
    Params = HealthStatus
    summary = "The Argo CD Application's health status."
    needs_application = True
    watches = ("Application",)

    def evaluate(self, params: HealthStatus, view: ClusterView, ctx: SignalContext) -> Match | None:
        app = _application(view, ctx)
        health = ((app or {}).get("status") or {}).get("health") or {}
        if app is None or health.get("status") != params.value:
            return None
        msg = health.get("message")
        return Match(
            subject=f"application/{ctx.application}",
            detail=f"health {health.get('status')}" + (f": {msg}" if msg else ""),
            api_time=parse_api_time(health.get("lastTransitionTime")),
        )


class ResourceMissing(Signal):
    name = "resource-missing"
    Params = ResourceParams
    summary = "The named object no longer exists (deleted after injection)."
    watches = ()

    def evaluate(self, params: ResourceParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        key = (params.kind, ctx.namespace, params.name)
        if key in view.objects:
            return None
        deleted = view.deleted_at.get(key)
        if deleted is None or deleted < ctx.since:
            return None
        return Match(subject=f"{params.kind.lower()}/{params.name}", detail="deleted")


class ResourcePresent(Signal):
    name = "resource-present"
    Params = ResourceParams
    summary = "The named object exists and is not being deleted."
    watches = ()

    def evaluate(self, params: ResourceParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        obj = view.get(params.kind, ctx.namespace, params.name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        return Match(
            subject=f"{params.kind.lower()}/{params.name}",
            detail="present",
            api_time=parse_api_time(obj["metadata"].get("creationTimestamp")),
        )


class ReplicasEqual(Signal):
    name = "replicas-equal"
    Params = ReplicasParams
    summary = "The deployment wants (and, with ready: true, has ready) exactly N replicas."
    watches = ("Deployment",)

    def evaluate(self, params: ReplicasParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        dep = _deployment(view, ctx)
        want = params.replicas if params.replicas is not None else ctx.baseline_replicas
        if dep is None or want is None:
            return None
        spec_n = (dep.get("spec") or {}).get("replicas", 1)
        st = dep.get("status") or {}
        if spec_n != want:
            return None
        if params.ready:
            if (dep["metadata"].get("generation") or 0) > (st.get("observedGeneration") or 0):
                return None
            if (st.get("readyReplicas") or 0) != want or (st.get("replicas") or 0) != want:
                return None
        return Match(subject=f"deployment/{ctx.deployment}", detail=f"replicas {spec_n}, ready {st.get('readyReplicas') or 0}")


class ReplicasDrift(Signal):
    name = "replicas-drift"
    Params = NoParams
    summary = "The deployment's spec.replicas differs from the count before the drill."
    watches = ("Deployment",)

    def evaluate(self, params: NoParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        dep = _deployment(view, ctx)
        if dep is None or ctx.baseline_replicas is None:
            return None
        n = (dep.get("spec") or {}).get("replicas", 1)
        if n == ctx.baseline_replicas:
            return None
        return Match(subject=f"deployment/{ctx.deployment}", detail=f"replicas {ctx.baseline_replicas} -> {n}")


def event_time(ev: dict[str, Any]) -> tuple[datetime | None, str]:
    """Best API timestamp of an Event and its precision (kubernetes.md §3)."""
    series = ev.get("series") or {}
    for value, precision in (
        (ev.get("eventTime"), "1µs"),
        (series.get("lastObservedTime"), "1µs"),
        (ev.get("lastTimestamp"), "1s"),
        (ev.get("firstTimestamp"), "1s"),
    ):
        dt = parse_api_time(value)
        if dt is not None:
            return dt, precision
    return None, "none"


class EventSeen(Signal):
    name = "event"
    Params = EventParams
    summary = "A Kubernetes Event in the namespace with this reason (and message text) arrived after injection."
    watches = ("Event",)

    def evaluate(self, params: EventParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        best: tuple[float, dict[str, Any]] | None = None
        for ev in view.of_kind("Event", ctx.namespace):
            key = ("Event", ctx.namespace, ev["metadata"]["name"])
            seen = view.changed_at.get(key, 0.0)
            # only Events that arrived, or were bumped, after injection: a leftover of an earlier drill
            # arrives with the watch's initial list at the same instant on a virtual clock
            if seen < ctx.since or not view.new_since_baseline(key) or ev.get("reason") != params.reason:
                continue
            if params.type and ev.get("type") != params.type:
                continue
            involved = ev.get("involvedObject") or ev.get("regarding") or {}
            if params.kind and involved.get("kind") != params.kind:
                continue
            text = ev.get("message") or ev.get("note") or ""
            if params.message and params.message not in text:
                continue
            if best is None or seen < best[0]:
                best = (seen, ev)
        if best is None:
            return None
        ev = best[1]
        involved = ev.get("involvedObject") or ev.get("regarding") or {}
        t, precision = event_time(ev)
        return Match(
            subject=f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            detail=f"{ev.get('type', '')} {ev.get('reason')}: {ev.get('message') or ev.get('note') or ''}".strip(),
            api_time=t,
            api_precision=precision,
        )


class HumanParams(_Params):
    by: str | None = Field(default=None, description="Only this person counts (default: anyone).")


class _Human(Signal):
    action: ClassVar[str]
    Params = HumanParams
    watches = ()

    def evaluate(self, params: HumanParams, view: ClusterView, ctx: SignalContext) -> Match | None:
        for ev in view.of_kind("HumanEvent", ""):
            seen = view.changed_at.get(("HumanEvent", "", ev["metadata"]["name"]), 0.0)
            if ev.get("action") == self.action and seen >= ctx.since and (params.by is None or ev.get("by") == params.by):
                return Match(subject=f"human/{ev.get('by')}", detail=f"{self.action}" + (f": {ev['note']}" if ev.get("note") else ""),
                             api_time=None)
        return None


class HumanAck(_Human):
    name = "human-ack"
    action = "ack"
    summary = "Someone acknowledged the drill's alert (drills ack, the console, or a scripted responder)."


class HumanMitigated(_Human):
    name = "human-mitigated"
    action = "mitigated"
    summary = "Someone declared it fixed; combine with machine signals, which must hold as well."


REGISTRY: dict[str, Signal] = {
    s.name: s
    for s in (
        PodWaiting(),
        PodNotReady(),
        DeploymentAvailable(),
        DeploymentProgressDeadline(),
        AppSync(),
        AppHealth(),
        ResourceMissing(),
        ResourcePresent(),
        ReplicasEqual(),
        ReplicasDrift(),
        EventSeen(),
        HumanAck(),
        HumanMitigated(),
    )
}
