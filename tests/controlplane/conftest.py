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


@pytest.fixture(scope="session")
def gitops_env(controlplane: ControlPlane, kube_api, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """The sample app the way kind/up.sh sets it up, on this plane: a bare GitOps repository seeded
    from kind/platform-config, the Argo CD stand-in, the dev/stage/prod Applications (prod synced
    once by hand), Synced and Healthy. Yields (repo, stand-in process)."""
    from kubernetes import client

    from gitops_fixture import SAMPLE_REPO_URL, GitOpsRepo, install_application_crd, start_argocd_standin, stop_argocd_standin
    from waiting import watch_until

    custom = client.CustomObjectsApi(kube_api)
    install_application_crd(kube_api)
    for env in ("dev", "stage", "prod"):  # leftovers of other modules' Applications would be fought over
        try:
            custom.delete_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications", f"week6-api-{env}")
        except client.exceptions.ApiException as e:
            if e.status != 404:
                raise
    repo = GitOpsRepo.create(tmp_path_factory.mktemp("gitops"))
    proc = start_argocd_standin(controlplane, {SAMPLE_REPO_URL: repo.bare}, name="argocd-standin-session")
    for env in ("dev", "stage", "prod"):
        app = yaml_load(repo.work / "envs" / env / "week6-api-app.yaml")
        custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications", app)
    custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications", "week6-api-prod",
                                          {"operation": {"initiatedBy": {"username": "test"}, "sync": {"revision": "main"}}})
    for env in ("dev", "stage", "prod"):
        watch_until(custom.list_namespaced_custom_object,
                    lambda a: ((a.get("status") or {}).get("sync") or {}).get("status") == "Synced"
                    and ((a.get("status") or {}).get("health") or {}).get("status") == "Healthy",
                    180, "argoproj.io", "v1alpha1", "argocd", "applications",
                    field_selector=f"metadata.name=week6-api-{env}", desc=f"week6-api-{env} Synced and Healthy")
    try:
        yield repo, proc
    finally:
        stop_argocd_standin(controlplane, proc)


def yaml_load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())
