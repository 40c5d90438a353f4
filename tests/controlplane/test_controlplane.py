"""Proof that the test control plane behaves like a cluster for the release drills.

Real kube-apiserver / kube-controller-manager / kube-scheduler / etcd / helm; the kubelet is
fake_kubelet.py, which runs kind/app/app.py for real and probes it for real.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from waiting import condition, wait_until_empty, waiting_reason, watch_until

pytestmark = pytest.mark.controlplane

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "kind" / "platform-config" / "apps" / "week6-api"


def deployment(name: str, image: str, *, replicas: int = 1, readiness_path: str = "/health",
               period: int = 2, initial_delay: int = 1, failure_threshold: int = 3,
               progress_deadline: int = 600, liveness_path: str | None = None) -> dict:
    container = {
        "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 5000}],
        "readinessProbe": {"httpGet": {"path": readiness_path, "port": 5000},
                           "initialDelaySeconds": initial_delay, "periodSeconds": period,
                           "failureThreshold": failure_threshold},
    }
    if liveness_path:
        container["livenessProbe"] = {"httpGet": {"path": liveness_path, "port": "http"},
                                      "periodSeconds": 1, "failureThreshold": 2}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas, "progressDeadlineSeconds": progress_deadline,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [container], "terminationGracePeriodSeconds": 5}},
        },
    }


def events_for(core: client.CoreV1Api, ns: str, **selectors: str) -> list[dict]:
    sel = ",".join(f"{k}={v}" for k, v in selectors.items())
    resp = core.list_namespaced_event(ns, field_selector=sel, _preload_content=False)
    return json.loads(resp.data)["items"]


def wait_event(core: client.CoreV1Api, ns: str, predicate, timeout: float, desc: str) -> dict:  # noqa: ANN001
    return watch_until(core.list_namespaced_event, predicate, timeout, ns, desc=desc)


def test_components_and_node(controlplane, kube_api) -> None:  # noqa: ANN001
    core = client.CoreV1Api(kube_api)
    for name, proc in controlplane.processes.items():
        assert proc.alive(), f"{name} died: {proc.log_tail()}"
    status, body = controlplane.http_get("/readyz")
    assert status == 200, body
    metrics = controlplane.metrics()
    assert "apiserver_request_total" in metrics
    version = json.loads(controlplane.http_get("/version")[1])
    assert version["gitVersion"] == "v1.37.2"
    node = json.loads(core.read_node(controlplane.node_name, _preload_content=False).data)
    assert condition(node, "Ready")["status"] == "True"
    # the Lease in kube-node-lease is renewed (every 10 s): watch for a renewal
    coord = client.CoordinationV1Api(kube_api)
    first = json.loads(coord.read_namespaced_lease(controlplane.node_name, "kube-node-lease",
                                                   _preload_content=False).data)
    watch_until(coord.list_namespaced_lease,
                lambda lease: lease["metadata"]["name"] == controlplane.node_name
                and lease["spec"]["renewTime"] != first["spec"]["renewTime"],
                30, "kube-node-lease", desc="node lease renewed")


def test_deployment_rolls_out_to_available(controlplane, kube_api, namespace) -> None:  # noqa: ANN001
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, deployment("web", "week6-api:1.0.0", replicas=2))
    dep = watch_until(
        apps.list_namespaced_deployment,
        lambda d: d["status"].get("availableReplicas") == 2
        and d["status"].get("observedGeneration") == d["metadata"]["generation"]
        and condition(d, "Available").get("status") == "True"
        and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable",
        90, namespace, desc="deployment web Available")
    assert dep["status"]["readyReplicas"] == 2 and dep["status"]["updatedReplicas"] == 2
    assert condition(dep, "Available")["reason"] == "MinimumReplicasAvailable"

    pods = json.loads(core.list_namespaced_pod(namespace, label_selector="app=web", _preload_content=False).data)
    assert len(pods["items"]) == 2
    for pod in pods["items"]:
        st = pod["status"]
        assert st["phase"] == "Running"
        assert {c["type"]: c["status"] for c in st["conditions"]} == {
            "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
            "ContainersReady": "True", "PodScheduled": "True"}
        assert all(c.get("lastTransitionTime") for c in st["conditions"])
        assert st["podIP"] and st["startTime"] and st["hostIP"] == "127.0.0.1"
        cs = st["containerStatuses"][0]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
        assert cs["image"] == "week6-api:1.0.0" and "running" in cs["state"]
        # the container is a real process: ask it
        proc = controlplane.pod_process(namespace, pod["metadata"]["name"])
        port = proc["containers"]["app"]["port"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert json.load(r)["version"] == "1.0.0"
    reasons = {e["reason"] for e in events_for(core, namespace, **{"involvedObject.kind": "Pod"})
               if e["source"].get("component") == "kubelet"}
    assert {"Pulling", "Pulled", "Created", "Started"} <= reasons
    ev = events_for(core, namespace, reason="Started")[0]
    assert ev["firstTimestamp"] and ev["lastTimestamp"] and ev["count"] >= 1 and ev.get("eventTime") is None
    assert ev["involvedObject"]["fieldPath"] == "spec.containers{app}"

    # scale to 0: the kubelet kills the processes and deletes the pods (grace 0 after SIGTERM)
    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 0}})
    watch_until(apps.list_namespaced_deployment,
                lambda d: not d["status"].get("replicas"), 60, namespace, desc="scaled to 0")
    wait_until_empty(core.list_namespaced_pod, 30, namespace, desc="pods deleted")
    killing = events_for(core, namespace, reason="Killing")
    assert killing and killing[0]["message"] == "Stopping container app"


def test_missing_tag_is_image_pull_backoff_and_progress_deadline(controlplane, kube_api, namespace) -> None:  # noqa: ANN001,E501
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, deployment("bad", "week6-api:9.9.9-missing", progress_deadline=10))
    seen: set[str] = set()

    def both_reasons(pod: dict) -> bool:
        reason = waiting_reason(pod)
        if reason:
            seen.add(reason)
        assert pod["status"].get("phase") == "Pending", pod["status"]
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    pod = watch_until(core.list_namespaced_pod, both_reasons, 120, namespace, label_selector="app=bad",
                      desc="ErrImagePull then ImagePullBackOff")
    cs = pod["status"]["containerStatuses"][0]
    assert not cs["ready"] and cs["restartCount"] == 0
    dep = watch_until(apps.list_namespaced_deployment,
                      lambda d: condition(d, "Progressing").get("status") == "False", 60, namespace,
                      desc="ProgressDeadlineExceeded")
    assert condition(dep, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    assert condition(dep, "Available")["status"] == "False"

    msgs = [(e["reason"], e["message"], e["type"]) for e in events_for(core, namespace, **{"involvedObject.kind": "Pod"})]
    assert ("Pulling", 'Pulling image "week6-api:9.9.9-missing"', "Normal") in msgs
    assert any(r == "Failed" and m.startswith('Failed to pull image "week6-api:9.9.9-missing"') for r, m, _ in msgs)
    assert ("Failed", "Error: ErrImagePull", "Warning") in msgs
    assert ("BackOff", 'Back-off pulling image "week6-api:9.9.9-missing"', "Normal") in msgs
    assert ("Failed", "Error: ImagePullBackOff", "Warning") in msgs


def test_wrong_readiness_path_is_running_not_ready(controlplane, kube_api, namespace) -> None:  # noqa: ANN001
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(
        namespace, deployment("notready", "week6-api:1.0.0", readiness_path="/healthz", failure_threshold=1))
    msg = "Readiness probe failed: HTTP probe failed with statuscode: 404"
    ev = wait_event(core, namespace, lambda e: e["reason"] == "Unhealthy" and e["message"] == msg
                    and e["count"] >= 3, 60, "Unhealthy event counted 3 times")
    assert ev["type"] == "Warning" and ev["source"]["component"] == "kubelet"
    assert ev["firstTimestamp"] != ev["lastTimestamp"]
    pods = json.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
    assert len(pods) == 1
    st = pods[0]["status"]
    assert st["phase"] == "Running"
    assert condition(pods[0], "Ready")["status"] == "False"
    assert condition(pods[0], "ContainersReady")["reason"] == "ContainersNotReady"
    cs = st["containerStatuses"][0]
    assert "running" in cs["state"] and not cs["ready"] and cs["started"]
    # the 404 is real: the app process answers it
    port = controlplane.pod_process(namespace, pods[0]["metadata"]["name"])["containers"]["app"]["port"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert err.value.code == 404
    dep = json.loads(apps.read_namespaced_deployment("notready", namespace, _preload_content=False).data)
    assert not dep["status"].get("readyReplicas") and condition(dep, "Available")["status"] == "False"


def test_liveness_failure_restarts_container(controlplane, kube_api, namespace) -> None:  # noqa: ANN001
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, deployment("crashy", "week6-api:1.0.0", liveness_path="/nope"))
    pod = watch_until(core.list_namespaced_pod,
                      lambda p: any(cs["restartCount"] >= 2 and (cs["state"].get("waiting") or {}).get("reason")
                                    == "CrashLoopBackOff" for cs in p["status"].get("containerStatuses") or []),
                      90, namespace, desc="restartCount >= 2 and CrashLoopBackOff")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["finishedAt"]
    assert pod["status"]["phase"] == "Running"
    reasons = {(e["reason"], e["message"]) for e in events_for(core, namespace, **{"involvedObject.kind": "Pod"})}
    assert ("Killing", "Container app failed liveness probe, will be restarted") in reasons
    assert ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") in reasons
    assert any(r == "BackOff" and m.startswith("Back-off restarting failed container app in pod") for r, m in reasons)


def test_helm_install_upgrade_history_rollback(controlplane, kube_api, namespace) -> None:  # noqa: ANN001
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    version = controlplane.helm("version", "--short").stdout
    assert version.startswith("v4.3.2"), version

    def image() -> str:
        dep = json.loads(apps.read_namespaced_deployment("week6-api", namespace, _preload_content=False).data)
        return dep["spec"]["template"]["spec"]["containers"][0]["image"]

    def available(rev_image: str) -> None:
        watch_until(apps.list_namespaced_deployment,
                    lambda d: d["metadata"]["name"] == "week6-api"
                    and d["spec"]["template"]["spec"]["containers"][0]["image"] == rev_image
                    and d["status"].get("updatedReplicas") == d["spec"]["replicas"]
                    and d["status"].get("availableReplicas") == d["spec"]["replicas"]
                    and d["status"].get("observedGeneration") == d["metadata"]["generation"]
                    and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable",
                    120, namespace, desc=f"week6-api rolled out with {rev_image}")

    controlplane.helm("upgrade", "--install", "week6-api", str(CHART), "-n", namespace,
                      "-f", str(CHART / "values-dev.yaml"), "--wait", "--timeout", "120s")
    assert image() == "week6-api:dev-latest"
    available("week6-api:dev-latest")

    controlplane.helm("upgrade", "week6-api", str(CHART), "-n", namespace, "--reuse-values",
                      "--set", "image.tag=1.1.0", "--wait", "--timeout", "120s")
    assert image() == "week6-api:1.1.0"
    available("week6-api:1.1.0")

    history = json.loads(controlplane.helm("history", "week6-api", "-n", namespace, "-o", "json").stdout)
    assert [h["revision"] for h in history] == [1, 2]
    assert history[-1]["status"] == "deployed" and history[0]["status"] == "superseded"

    controlplane.helm("rollback", "week6-api", "1", "-n", namespace, "--wait", "--timeout", "120s")
    assert image() == "week6-api:dev-latest"
    available("week6-api:dev-latest")
    history = json.loads(controlplane.helm("history", "week6-api", "-n", namespace, "-o", "json").stdout)
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[-1]["status"] == "deployed"

    secrets = json.loads(core.list_namespaced_secret(namespace, label_selector="owner=helm",
                                                     _preload_content=False).data)["items"]
    assert sorted(s["metadata"]["name"] for s in secrets) == [
        f"sh.helm.release.v1.week6-api.v{i}" for i in (1, 2, 3)]
    assert all(s["type"] == "helm.sh/release.v1" for s in secrets)
    assert {s["metadata"]["labels"]["status"] for s in secrets} == {"superseded", "deployed"}


def test_kubelet_survives_apiserver_restart(controlplane, kube_api, namespace) -> None:  # noqa: ANN001
    """The kubelet stand-in's watch is cut; it re-watches (or relists after 410 Gone) and carries on."""
    apps = client.AppsV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, deployment("before", "week6-api:1.0.0"))
    watch_until(apps.list_namespaced_deployment, lambda d: d["status"].get("availableReplicas") == 1,
                60, namespace, desc="before Available")
    controlplane.restart("kube-apiserver")
    apps.create_namespaced_deployment(namespace, deployment("after", "week6-api:1.1.0", replicas=2))
    watch_until(apps.list_namespaced_deployment,
                lambda d: d["metadata"]["name"] == "after" and d["status"].get("availableReplicas") == 2,
                90, namespace, desc="after Available (kubelet watching again)")
    assert controlplane.processes["fake-kubelet"].alive()
    log = (controlplane.log_dir / "fake-kubelet.log").read_text()
    assert "pod watch failed" in log or "410 Gone" in log, log[-2000:]
