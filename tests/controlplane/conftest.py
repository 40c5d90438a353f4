"""Fixtures for tests that need a real Kubernetes control plane (marker: controlplane).

`controlplane` (session scope) builds-or-reuses the binaries (build.sh), starts etcd,
kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet stand-in once per
session, and stops them at the end. A build or start failure FAILS the tests using it, with
the error (it never skips). Logs: <basetemp>/controlplane*/logs/.

$DRILLS_KUBELET_IMAGE_BACKOFF shortens the kubelet's initial image pull back-off (default 10 s).
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # plane.py / waiting.py live here; tests/ need not be a package
    sys.path.insert(0, str(HERE))

from plane import ControlPlane  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "controlplane: needs the real local Kubernetes control plane (tests/controlplane)")


@pytest.fixture(scope="session")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    try:
        cp.start()
    except Exception as e:  # noqa: BLE001 - fail loudly, with the component's log tail
        pytest.fail(f"the test control plane did not start: {e}", pytrace=False)
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def kube_api(controlplane: ControlPlane):  # noqa: ANN201 - kubernetes.client.ApiClient
    api = controlplane.api_client()
    yield api
    api.close()


@pytest.fixture
def namespace(kube_api) -> Iterator[str]:  # noqa: ANN001
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
