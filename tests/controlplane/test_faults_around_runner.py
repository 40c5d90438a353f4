"""Faults around the runner, on the real control plane through a fault-injecting proxy: 429
(with Retry-After), 500, requests that hang past the client timeout, responses lost after the
write reached the server, and cut watch streams. The drill still completes; every retry loop is
bounded; the injection is applied exactly once (the apiserver's audit log is the witness)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from faultproxy import FaultProxy, Rule
from kubehelp import audit_writes, body, drill_yaml, install_release

from runner import loader
from runner.engine import Engine
from runner.errors import TargetUnavailable
from runner.kinds import Outcome
from runner.targets.base import ResourceRef
from runner.targets.config import TargetConfig
from runner.targets.kube import KubeTarget

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def proxied(controlplane: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ns = f"fp-{uuid.uuid4().hex[:6]}"
    install_release(controlplane, ns)
    tmp = tmp_path_factory.mktemp("proxy")
    proxy = FaultProxy(controlplane.api_url, tmp, hang_seconds=8).start()
    kc = proxy.kubeconfig(tmp / "kubeconfig", controlplane.token)
    yield {"ns": ns, "proxy": proxy, "kubeconfig": kc, "tmp": tmp}
    proxy.stop()


def target(p: dict[str, Any]) -> KubeTarget:
    cfg = TargetConfig.model_validate({"context": "via-proxy", "kubeconfig": str(p["kubeconfig"]), "namespaces": [p["ns"]],
                                       "request-timeout": 3})
    return KubeTarget("proxied", cfg)


def drill(p: dict[str, Any], name: str, fault: dict[str, Any], detect: list[Any], rollback: str, recover: list[Any],
          recover_timeout: str = "120s") -> Any:
    res = loader.load_text(drill_yaml(name, p["ns"], fault, detect, rollback, recover, recover_timeout=recover_timeout), f"{name}.yaml")
    assert not res.problems
    return res.documents[0].model


def test_transient_errors_are_retried_and_the_injection_applied_once(controlplane: Any, proxied: dict[str, Any]) -> None:
    proxy: FaultProxy = proxied["proxy"]
    ns = proxied["ns"]
    proxy.reset([
        Rule("PATCH", rf"/namespaces/{ns}/deployments/week6-api", "429", count=1),
        Rule("PATCH", rf"/namespaces/{ns}/deployments/week6-api", "500", count=1),
        Rule("PATCH", rf"/namespaces/{ns}/deployments/week6-api", "hang", count=1),
        Rule("GET", rf"/namespaces/{ns}/deployments/week6-api$", "500", count=2),
        Rule("GET", r"watch=true", "cut", count=3),
    ])
    t = target(proxied)
    d = drill(proxied, "proxied-image", {"type": "image-tag", "via": "api", "params": {"tag": "proxied-1"}},
              [{"pod-waiting": {"reasons": ["ErrImagePull", "ImagePullBackOff"]}}], "rollout-undo", [{"deployment-available": {}}])
    run = Engine(t).run(d)
    t.close()
    assert run.verdict and run.verdict.outcome is Outcome.PASSED, [(e.kind.value, e.message) for e in run.timeline]
    actions = [a for _, _, a in proxy.stats.injected]
    assert actions.count("429") == 1 and actions.count("500") == 3 and actions.count("hang") == 1 and actions.count("cut") == 3
    inj = run.timeline.wall(run.injected_at)
    assert inj is not None
    writes = audit_writes(controlplane, namespace=ns, user="admin", since=inj - timedelta(seconds=60),
                          match=lambda e: e["objectRef"]["resource"] == "deployments" and e["verb"] == "patch"
                          and not e["objectRef"].get("subresource") and "proxied-1" in body(e))
    assert len(writes) == 1, [(e["verb"], e["objectRef"].get("subresource"), e["user"]["username"], e["stageTimestamp"])
                              for e in writes]


def test_a_lost_response_after_the_write_is_not_applied_twice(controlplane: Any, proxied: dict[str, Any]) -> None:
    proxy: FaultProxy = proxied["proxy"]
    ns = proxied["ns"]
    # the DELETE reaches the apiserver, its answer is cut: the retry finds the Service gone and counts it done
    proxy.reset([Rule("DELETE", rf"/namespaces/{ns}/services/week6-api", "cut", count=1)])
    t = target(proxied)
    d = drill(proxied, "proxied-delete", {"type": "delete-resource", "via": "api", "params": {"kind": "Service", "name": "week6-api"}},
              [{"resource-missing": {"kind": "Service", "name": "week6-api"}}], "none",
              [{"resource-present": {"kind": "Service", "name": "week6-api"}}], recover_timeout="3s")
    run = Engine(t).run(d)
    assert run.injection is not None and run.verdict and run.verdict.ttd_seconds is not None
    assert [a for _, _, a in proxy.stats.injected] == ["cut"]
    deletes = audit_writes(controlplane, namespace=ns, match=lambda e: e["verb"] == "delete" and e["objectRef"]["resource"] == "services")
    assert len([e for e in deletes if e["user"]["username"] == "admin"]) >= 1
    assert t.api.get(ResourceRef("Service", ns, "week6-api")) is not None  # restore recreated it
    t.close()


def test_retries_are_bounded(proxied: dict[str, Any]) -> None:
    proxy: FaultProxy = proxied["proxy"]
    ns = proxied["ns"]
    proxy.reset([Rule("GET", rf"/namespaces/{ns}/services/week6-api", "500", count=100)])
    t = target(proxied)
    with pytest.raises(TargetUnavailable, match="HTTP 500"):
        t.api.get(ResourceRef("Service", ns, "week6-api"))
    t.close()
    from runner.targets.kube import MAX_ATTEMPTS

    assert len(proxy.stats.injected) == MAX_ATTEMPTS
    proxy.reset([])
