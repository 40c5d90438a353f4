"""The scheduler's per-target lock on a real cluster: a Lease through the client's LeaseLock."""
from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from runner.clock import SystemClock
from runner.locks import LeaseTargetLock

pytestmark = pytest.mark.controlplane


def test_a_held_lease_keeps_a_second_runner_out_until_released(controlplane: Any, kube_api: Any) -> None:
    try:
        client.CoreV1Api(kube_api).create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "release-drills"}})
    except client.exceptions.ApiException as e:
        assert e.status == 409
    clock = SystemClock()
    a = LeaseTargetLock(controlplane.api_client(), "release-drills-plane", "release-drills", clock, duration=30)
    b = LeaseTargetLock(controlplane.api_client(), "release-drills-plane", "release-drills", clock, duration=30)
    b.lock.identity = "other-runner/42"  # a second process on another host
    assert a.acquire(wait=5)
    assert not b.acquire(wait=0)
    assert b.holder() == a.lock.identity
    lease = client.CoordinationV1Api(kube_api).read_namespaced_lease("release-drills-plane", "release-drills")
    assert lease.spec.holder_identity == a.lock.identity and lease.spec.lease_duration_seconds == 30
    a.release()
    assert b.acquire(wait=5)
    assert a.holder() == "other-runner/42"
    b.release()
    assert not client.CoordinationV1Api(kube_api).read_namespaced_lease("release-drills-plane", "release-drills").spec.holder_identity
