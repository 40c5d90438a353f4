"""The real-cluster target: the official ``kubernetes`` client, real ``git``, the ``helm`` CLI.

The only module that imports ``kubernetes``. API errors are translated once, in
``map_api_errors``, into the runner's error tree; transient ones (429, 5xx, timeouts, resets)
are retried with tenacity, bounded, with jittered back-off, honouring Retry-After. Writes are
never applied twice: a retried create that finds the object, or a retried delete that finds it
gone, counts as done.

Watches use the client's ``SharedInformer`` (list + watch, re-list after 410 Gone), wrapped
where it falls short (see ``Informer``): every observation is stamped with the runner's
monotonic clock in the informer thread the moment its event arrives, and handed to the engine
through a queue.
"""
from __future__ import annotations

import contextlib
import json
import logging
import queue
import random
import threading
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.informer import SharedInformer
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from runner.clock import Clock, SystemClock
from runner.errors import ResourceConflict, ResourceNotFound, TargetError, TargetUnavailable
from runner.targets.base import API_VERSIONS, ResourceRef, TargetInfo, WatchScope
from runner.targets.config import TargetConfig, resolve
from runner.targets.gitrepo import GitRepo
from runner.targets.helmcli import HelmCli
from runner.view import Obj, Observation

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 5
WATCH_TIMEOUT_SECONDS = 240
"""Server-side watch duration; the informer reconnects from its last resourceVersion after it."""
WATCH_READ_TIMEOUT = (10.0, WATCH_TIMEOUT_SECONDS + 30.0)
"""Client socket timeout for watches: a dead connection cannot hang forever (python client #1402)."""


# --- errors and retries ---------------------------------------------------------------------


def _body_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)[:256]
    except (ValueError, AttributeError):
        return str(exc.body or exc.reason)[:256]


@contextlib.contextmanager
def map_api_errors(what: str) -> Iterator[None]:
    """Translate client exceptions into the runner's errors (the most specific one)."""
    try:
        yield
    except ApiException as exc:
        msg = f"{what}: {_body_message(exc)}"
        status = exc.status or 0
        if status == 404:
            raise ResourceNotFound("object", "", what, message=msg) from exc
        if status == 409:
            raise ResourceConflict(msg) from exc
        if status == 429 or status >= 500:
            err = TargetUnavailable(f"{msg} (HTTP {status})")
            err.retry_after = _retry_after(exc)  # type: ignore[attr-defined]
            raise err from exc
        if status == 403:
            raise TargetError(f"{msg} (forbidden: the runner's RBAC does not allow this; see kind/rbac.yaml)") from exc
        raise TargetError(f"{msg} (HTTP {status})") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        # connection refused/reset, read timeout, protocol errors: the API may be restarting
        raise TargetUnavailable(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from exc


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class _Wait:
    """Jittered exponential back-off (0.2 s doubling, capped at 5 s), or the server's Retry-After."""

    def __call__(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return float(min(after, 30.0))
        return float(min(5.0, 0.2 * 2 ** (state.attempt_number - 1)) * random.uniform(0.5, 1.0))


def with_retries(clock: Clock, fn: Callable[[], T]) -> T:
    """Run ``fn`` retrying TargetUnavailable; attempt-bounded (tenacity's time stops read time.monotonic)."""
    for attempt in Retrying(retry=retry_if_exception_type(TargetUnavailable), stop=stop_after_attempt(MAX_ATTEMPTS),
                            wait=_Wait(), sleep=clock.sleep, reraise=True):
        with attempt:
            return fn()
    raise AssertionError("unreachable")


# --- cluster API ----------------------------------------------------------------------------


class KubeApi:
    """``ClusterApi`` through the dynamic client (one code path for every kind, CRDs included)."""

    def __init__(self, api_client: k8s_client.ApiClient, clock: Clock, request_timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.clock = clock
        self.timeout = (min(10.0, request_timeout), request_timeout)
        with map_api_errors("API discovery"):
            self.dyn = dynamic.DynamicClient(api_client)
        self._resources: dict[str, Any] = {}

    def resource(self, kind: str) -> Any:
        if kind not in self._resources:
            try:
                with map_api_errors(f"discover {kind}"):
                    self._resources[kind] = self.dyn.resources.get(api_version=API_VERSIONS.get(kind, "v1"), kind=kind)
            except ResourceNotFoundError as exc:
                hint = " (is Argo CD installed?)" if kind == "Application" else ""
                raise TargetError(f"the cluster does not serve {kind} ({API_VERSIONS.get(kind, 'v1')}){hint}") from exc
        return self._resources[kind]

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        def once() -> Any:
            with map_api_errors(what):
                return fn()
        return with_retries(self.clock, once)

    @staticmethod
    def _dict(resp: Any, kind: str) -> Obj:
        data: Obj = json.loads(resp.data)
        data.setdefault("kind", kind)
        return data

    def get(self, ref: ResourceRef) -> Obj | None:
        res = self.resource(ref.kind)
        try:
            return self._dict(self._call(f"get {ref}", lambda: res.get(name=ref.name, namespace=ref.namespace,
                                                                        serialize=False, _request_timeout=self.timeout)), ref.kind)
        except ResourceNotFound:
            return None

    def list(self, kind: str, namespace: str, labels: Mapping[str, str] | None = None) -> list[Obj]:
        res = self.resource(kind)
        selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or None
        data = self._dict(self._call(f"list {kind} -n {namespace}", lambda: res.get(
            namespace=namespace, label_selector=selector, serialize=False, _request_timeout=self.timeout)), kind)
        items = data.get("items") or []
        for it in items:
            it.setdefault("kind", kind)
            it.setdefault("apiVersion", API_VERSIONS.get(kind, "v1"))
        return sorted(items, key=lambda o: o["metadata"]["name"])

    def create(self, manifest: Obj) -> Obj:
        kind, md = manifest["kind"], manifest["metadata"]
        res = self.resource(kind)
        ref = ResourceRef(kind, md["namespace"], md["name"])
        tried: list[bool] = []

        def once() -> Any:
            try:
                with map_api_errors(f"create {ref}"):
                    return res.create(body=manifest, namespace=ref.namespace, serialize=False, _request_timeout=self.timeout)
            except ResourceConflict:
                if tried:  # our earlier attempt reached the server before the connection failed
                    return None
                raise
            finally:
                tried.append(True)
        resp = with_retries(self.clock, once)
        return self._dict(resp, kind) if resp is not None else (self.get(ref) or manifest)

    def delete(self, ref: ResourceRef) -> None:
        res = self.resource(ref.kind)
        tried: list[bool] = []

        def once() -> None:
            try:
                with map_api_errors(f"delete {ref}"):
                    res.delete(name=ref.name, namespace=ref.namespace, serialize=False, _request_timeout=self.timeout)
            except ResourceNotFound:
                if not tried:
                    raise ResourceNotFound(ref.kind, ref.namespace, ref.name) from None
            finally:
                tried.append(True)
        with_retries(self.clock, once)

    def _patch(self, ref: ResourceRef, body: Any, content_type: str, subresource: str | None = None) -> Obj:
        res = self.resource(ref.kind)
        target = res.subresources[subresource] if subresource else res
        resp = self._call(f"patch {ref}", lambda: target.patch(body=body, name=ref.name, namespace=ref.namespace,
                                                                content_type=content_type, serialize=False,
                                                                _request_timeout=self.timeout))
        return self._dict(resp, ref.kind)

    def merge_patch(self, ref: ResourceRef, patch: Obj, resource_version: str | None = None) -> Obj:
        if resource_version is not None:
            patch = {**patch, "metadata": {**(patch.get("metadata") or {}), "resourceVersion": resource_version}}
        return self._patch(ref, patch, "application/merge-patch+json")

    def json_patch(self, ref: ResourceRef, ops: Sequence[Obj]) -> Obj:
        return self._patch(ref, list(ops), "application/json-patch+json")

    def set_container(self, ref: ResourceRef, container: str, *, image: str | None = None,
                      readiness_path: str | None = None) -> Obj:
        c: Obj = {"name": container}
        if image is not None:
            c["image"] = image
        if readiness_path is not None:
            c["readinessProbe"] = {"httpGet": {"path": readiness_path}}
        return self._patch(ref, {"spec": {"template": {"spec": {"containers": [c]}}}}, "application/strategic-merge-patch+json")

    def scale(self, ref: ResourceRef, replicas: int) -> Obj:
        self._patch(ref, {"spec": {"replicas": replicas}}, "application/merge-patch+json", subresource="scale")
        return self.get(ref) or {}


# --- watches ---------------------------------------------------------------------------------


class Informer(SharedInformer):
    """``SharedInformer`` with what the runner needs and the client lacks (kubernetes 37.0.2):

    * every request has a client timeout and watches a server timeout, so a dead connection is
      noticed (the client's default socket timeout is none: issue #1402);
    * BOOKMARK events are requested, so a reconnect after a quiet period resumes instead of 410;
    * objects stay plain dicts for every kind, CRDs included (its list path expects model
      objects with ``.items``, which custom-object lists are not);
    * ``synced`` is set once the first list has been delivered (the client has no has_synced);
    * a stop does not log the socket shutdown as an error.
    """

    def __init__(self, list_func: Callable[..., Any], namespace: str, **kw: Any) -> None:
        super().__init__(list_func, namespace=namespace, **kw)
        self.synced = threading.Event()
        self.stopping = False

    def _build_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = super()._build_kwargs()
        kw.update(allow_watch_bookmarks=True, timeout_seconds=WATCH_TIMEOUT_SECONDS, _request_timeout=WATCH_READ_TIMEOUT)
        return kw

    def _initial_list(self) -> None:
        super()._initial_list()
        self.synced.set()

    def stop(self) -> None:
        self.stopping = True
        level = logging.getLogger("kubernetes.informer.informer").level
        logging.getLogger("kubernetes.informer.informer").setLevel(logging.CRITICAL)
        try:
            super().stop()
        finally:
            logging.getLogger("kubernetes.informer.informer").setLevel(level)


def dict_lister(resource: Any, kind: str, *, field_selector: str | None = None) -> Callable[..., Any]:
    def list_func(**kw: Any) -> Any:
        """List or watch as raw JSON.

        :rtype: object
        """
        kw.pop("_preload_content", None)
        if field_selector:
            kw["field_selector"] = field_selector
        if kw.get("watch"):
            return resource.get(serialize=False, **kw)
        with map_api_errors(f"list {kind}"):
            data = json.loads(resource.get(serialize=False, **kw).data)
        for it in data.get("items") or []:
            it.setdefault("kind", kind)
            it.setdefault("apiVersion", API_VERSIONS.get(kind, "v1"))
        return SimpleNamespace(items=data.get("items") or [],
                               metadata=SimpleNamespace(resource_version=data["metadata"].get("resourceVersion")))
    return list_func


class KubeWatch:
    """One informer per watched kind; observations in arrival order through one queue."""

    def __init__(self, api: KubeApi, scope: WatchScope, clock: Clock, sync_timeout: float = 60.0) -> None:
        self.clock = clock
        self.queue: queue.Queue[Observation] = queue.Queue()
        self.informers: list[Informer] = []
        self.errors: list[str] = []
        for kind in sorted(scope.kinds):
            res = api.resource(kind)
            selector = None
            if kind in ("Pod", "ReplicaSet") and scope.label_selector:
                selector = ",".join(f"{k}={v}" for k, v in scope.label_selector.items())
            inf = Informer(dict_lister(res, kind), scope.namespace, label_selector=selector)
            self._handlers(inf, kind)
            self.informers.append(inf)
        if scope.application:
            res = api.resource("Application")
            inf = Informer(dict_lister(res, "Application", field_selector=f"metadata.name={scope.application}"),
                           scope.argocd_namespace)
            self._handlers(inf, "Application")
            self.informers.append(inf)
        for inf in self.informers:
            inf.start()
        deadline = clock.monotonic() + sync_timeout
        for inf in self.informers:
            if not inf.synced.wait(max(0.0, deadline - clock.monotonic())):
                self.close()
                raise TargetUnavailable(f"watches did not start within {sync_timeout:g} s: " + "; ".join(self.errors[-3:]))

    def _handlers(self, inf: Informer, kind: str) -> None:
        def put(etype: str) -> Callable[[Any], None]:
            def handler(obj: Any) -> None:
                at = self.clock.monotonic()  # stamped on arrival, before anything else
                if isinstance(obj, dict):
                    obj.setdefault("kind", kind)
                    self.queue.put(Observation(at, etype, kind, obj))
            return handler
        for etype in ("ADDED", "MODIFIED", "DELETED"):
            inf.add_event_handler(etype, put(etype))
        inf.add_event_handler("ERROR", lambda exc: None if inf.stopping else self.errors.append(f"{kind}: {exc}"))

    def inject(self, obs: Observation) -> None:
        self.queue.put(Observation(self.clock.monotonic(), obs.type, obs.kind, obs.obj))

    def next(self, deadline: float) -> Observation | None:
        timeout = deadline - self.clock.monotonic()
        try:
            return self.queue.get(timeout=max(0.0, timeout)) if timeout > 0 else self.queue.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        for inf in self.informers:
            inf.stop()


# --- the target -------------------------------------------------------------------------------


def api_client_for(cfg: TargetConfig, config_path: Any = None) -> k8s_client.ApiClient:
    """An API client for the target (a kubeconfig path is relative to the targets file)."""
    kubeconfig = resolve(config_path, cfg.kubeconfig) if cfg.kubeconfig and config_path else cfg.kubeconfig
    try:
        if cfg.in_cluster:
            cluster_config = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=cluster_config)
            return k8s_client.ApiClient(cluster_config)
        return k8s_config.new_client_from_config(config_file=kubeconfig, context=cfg.context)
    except (k8s_config.ConfigException, OSError) as exc:
        raise TargetError(f"cannot load kubeconfig context {cfg.context!r}: {exc}") from exc


class KubeTarget:
    """A real cluster as a ``Target``."""

    def __init__(self, name: str, cfg: TargetConfig, *, config_path: Any = None, clock: Clock | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.api_client = api_client_for(cfg, config_path)
        self.api = KubeApi(self.api_client, self.clock, cfg.request_timeout)
        kubeconfig = resolve(config_path, cfg.kubeconfig) if cfg.kubeconfig and config_path else cfg.kubeconfig
        charts = {k: (resolve(config_path, v) if config_path else v) for k, v in cfg.helm.charts.items()}
        binary = resolve(config_path, cfg.helm.binary) if config_path and "/" in cfg.helm.binary else cfg.helm.binary
        self.helm = HelmCli(binary, kubeconfig=kubeconfig, context=cfg.context, charts=charts)
        self._git: GitRepo | None = None
        if cfg.gitops is not None:
            url = resolve(config_path, cfg.gitops.url) if config_path else cfg.gitops.url
            self._git = GitRepo(url, cfg.gitops.branch, username_env=cfg.gitops.username_env,
                                password_env=cfg.gitops.password_env)
        self.info = TargetInfo(name=name, kind="kube", simulated=False,
                               description=cfg.description or f"Kubernetes cluster (context {cfg.context or 'in-cluster'})",
                               details={"context": cfg.context, "production_like": cfg.production_like})

    def gitops_for(self, repo_url: str) -> GitRepo | None:
        if self._git is None or self.cfg.gitops is None:
            return None
        if self.cfg.gitops.serves and repo_url not in self.cfg.gitops.serves:
            return None
        return self._git

    def watch(self, scope: WatchScope) -> KubeWatch:
        return KubeWatch(self.api, scope, self.clock)

    def drill_observers(self) -> list[Any]:
        """Observers this target adds to every drill: Kubernetes Events on the app."""
        from runner.targets.kube_events import KubeEventRecorder

        return [KubeEventRecorder(self.api, self.clock)]

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing the HTTP pool at exit; nothing to report
            self.api_client.close()
