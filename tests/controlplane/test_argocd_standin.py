"""The Argo CD stand-in (argocd_standin.py) on the real test control plane.

A bare Git repository seeded from kind/platform-config (real git), the Application CRD
(argocd-application-crd.yaml), the stand-in as a process of the plane (real helm), and the
sample Applications of kind/platform-config/envs with their repoURL served from the bare repo.
Every test uses its own branch, Application and destination namespace, so they do not interfere.
Waiting is done with watches (waiting.py) and timeouts, never bare sleeps.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gitops_fixture import (SAMPLE_REPO_URL, STANDIN, GitOpsRepo, install_application_crd, start_argocd_standin,
                           stop_argocd_standin)
from waiting import waiting_reason, watch_until

pytestmark = pytest.mark.controlplane

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENVS = REPO / "kind" / "platform-config" / "envs"
APP_NS = "argocd"
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
TRACKING = "argocd.argoproj.io/tracking-id"
REFRESH = "argocd.argoproj.io/refresh"
VALUES_DEV = "apps/week6-api/values-dev.yaml"
RECONCILIATION_SECONDS = 10  # short, so the polling test is quick; the other tests use the refresh annotation


def j(resp: Any) -> Any:
    return json.loads(resp.data)


class Argo:
    """What the tests need to drive and observe Applications (raw dicts, like the runner)."""

    def __init__(self, api: client.ApiClient, repo: GitOpsRepo, proc: Any) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.repo = repo
        self.proc = proc
        self.created: list[tuple[str, str]] = []  # (application, destination namespace)

    # ---------------------------------------------------------------- Applications
    def create(self, name: str, *, env: str = "dev", branch: str, namespace: str,
               edit: Callable[[dict], None] | None = None) -> dict:
        """The sample Application of `env`, renamed, on `branch`, deploying to `namespace`."""
        app = yaml.safe_load((ENVS / env / "week6-api-app.yaml").read_text())
        app["metadata"]["name"] = name
        app["spec"]["source"]["targetRevision"] = branch
        app["spec"]["destination"]["namespace"] = namespace
        if edit:
            edit(app)
        self.created.append((name, namespace))
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, APP_NS, PLURAL, app)

    def get(self, name: str) -> dict:
        return j(self.custom.get_namespaced_custom_object(GROUP, VERSION, APP_NS, PLURAL, name, _preload_content=False))

    def patch(self, name: str, body: dict) -> dict:
        return j(self.custom.patch_namespaced_custom_object(GROUP, VERSION, APP_NS, PLURAL, name, body,
                                                            _preload_content=False))

    def refresh(self, name: str, kind: str = "normal") -> None:
        self.patch(name, {"metadata": {"annotations": {REFRESH: kind}}})

    def wait(self, name: str, predicate: Callable[[dict], Any], timeout: float, desc: str) -> dict:
        try:
            return watch_until(self.custom.list_namespaced_custom_object, predicate, timeout,
                               GROUP, VERSION, APP_NS, PLURAL, field_selector=f"metadata.name={name}",
                               desc=f"{name}: {desc}")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n--- stand-in log tail ---\n{self.proc.log_tail(40)}") from None

    def wait_synced_healthy(self, name: str, revision: str, history: int, timeout: float = 90) -> dict:
        return self.wait(name, lambda a: sync(a) == ("Synced", revision) and health(a) == "Healthy"
                         and a.get("operation") is None and len(hist(a)) == history
                         and op_phase(a) == "Succeeded", timeout,
                         f"Synced at {revision[:12]}, Healthy, {history} history entries")

    def record(self, name: str, since_rv: str, until: Callable[[dict], Any], timeout: float, desc: str) -> list[dict]:
        """Every state of the Application after resourceVersion `since_rv`, up to the first that
        satisfies `until` (a watch from that resourceVersion misses none)."""
        seen: list[dict] = []

        def keep(a: dict) -> Any:
            if not seen or seen[-1]["metadata"]["resourceVersion"] != a["metadata"]["resourceVersion"]:
                seen.append(a)
            return until(a)
        try:
            watch_until(self.custom.list_namespaced_custom_object, keep, timeout, GROUP, VERSION, APP_NS, PLURAL,
                        field_selector=f"metadata.name={name}", resource_version=since_rv, desc=f"{name}: {desc}")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\nstates seen: {[summary(a) for a in seen]}\n--- stand-in log tail ---\n"
                               f"{self.proc.log_tail(40)}") from None
        return seen

    def events(self, name: str) -> list[dict]:
        return j(self.core.list_namespaced_event(APP_NS, field_selector=f"involvedObject.name={name}",
                                                 _preload_content=False))["items"]

    def wait_events(self, name: str, messages: list[str], timeout: float = 30) -> list[dict]:
        """Wait until Events on the Application carry every message (in any order); return them all."""
        missing = set(messages)

        def seen(ev: dict) -> bool:
            missing.discard(ev.get("message"))
            return not missing
        try:
            watch_until(self.core.list_namespaced_event, seen, timeout, APP_NS,
                        field_selector=f"involvedObject.name={name}", desc=f"{name}: events {sorted(missing)}")
        except TimeoutError as e:
            have = [ev["message"] for ev in self.events(name)]
            raise TimeoutError(f"{e}\nmissing {sorted(missing)}; have {have}") from None
        return self.events(name)

    # ---------------------------------------------------------------- managed objects
    def deployment(self, ns: str, name: str = "week6-api") -> dict:
        return j(self.apps.read_namespaced_deployment(name, ns, _preload_content=False))

    def image(self, ns: str) -> str:
        return self.deployment(ns)["spec"]["template"]["spec"]["containers"][0]["image"]


def sync(app: dict) -> tuple[str | None, str | None]:
    s = (app.get("status") or {}).get("sync") or {}
    return s.get("status"), s.get("revision")


def health(app: dict) -> str | None:
    return ((app.get("status") or {}).get("health") or {}).get("status")


def hist(app: dict) -> list[dict]:
    return (app.get("status") or {}).get("history") or []


def op_state(app: dict) -> dict:
    return (app.get("status") or {}).get("operationState") or {}


def op_phase(app: dict) -> str | None:
    return op_state(app).get("phase")


def summary(app: dict) -> str:
    s, rev = sync(app)
    return f"{s}@{(rev or '')[:8]}/{health(app)}/op={'yes' if app.get('operation') else 'no'}/{op_phase(app)}"


def resource(app: dict, kind: str) -> dict:
    return next(r for r in (app.get("status") or {}).get("resources") or [] if r["kind"] == kind)


# ============================================================================ fixtures

@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory) -> GitOpsRepo:
    return GitOpsRepo.create(tmp_path_factory.mktemp("gitops"))


@pytest.fixture(scope="module")
def argo(controlplane, kube_api, gitops: GitOpsRepo) -> Iterator[Argo]:  # noqa: ANN001
    """The Application CRD installed and the stand-in running (stopped at the end of the module)."""
    install_application_crd(kube_api)
    proc = start_argocd_standin(controlplane, {SAMPLE_REPO_URL: gitops.bare}, namespace=APP_NS, args=[
        "--reconciliation-seconds", str(RECONCILIATION_SECONDS), "--jitter-seconds", "2",
        "--self-heal-backoff", "2,3,300",
        "--watch-timeout-seconds", "15",  # so the watches end and resume many times during the tests
    ])
    argo = Argo(kube_api, gitops, proc)
    yield argo
    for name, ns in argo.created:
        for delete in (lambda: argo.custom.delete_namespaced_custom_object(GROUP, VERSION, APP_NS, PLURAL, name),
                       lambda: argo.core.delete_namespace(ns)):
            try:
                delete()
            except ApiException:
                pass
    stop_argocd_standin(controlplane, proc)


@pytest.fixture(autouse=True)
def standin_stays_healthy(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that uses the stand-in: it is still running and logged no traceback."""
    yield
    if "argo" not in request.fixturenames:
        return
    argo: Argo = request.getfixturevalue("argo")
    assert argo.proc.alive(), f"the stand-in died:\n{argo.proc.log_tail(60)}"
    text = argo.proc.log_path.read_text(errors="replace")
    assert "Traceback" not in text, f"the stand-in logged a traceback:\n{text[-6000:]}"


def branch(repo: GitOpsRepo) -> str:
    name = f"t-{uuid.uuid4().hex[:6]}"
    repo.branch(name)
    return name


# ============================================================================ tests

def test_dev_application_syncs_and_is_healthy(argo: Argo, gitops: GitOpsRepo) -> None:
    """envs/dev as it is (targetRevision main, namespace dev): auto-sync, history id 0, tracking ids."""
    gitops.checkout("main")
    sha = gitops.head("main")
    app = yaml.safe_load((ENVS / "dev" / "week6-api-app.yaml").read_text())
    argo.created.append(("week6-api-dev", "dev"))
    argo.custom.create_namespaced_custom_object(GROUP, VERSION, APP_NS, PLURAL, app)

    app = argo.wait_synced_healthy("week6-api-dev", sha, history=1)
    st = app["status"]
    h = st["history"][0]
    assert h["id"] == 0 and h["revision"] == sha and h["initiatedBy"] == {"automated": True}
    assert h["source"] == app["spec"]["source"] and h["deployedAt"] and h["deployStartedAt"]
    assert st["sync"]["comparedTo"]["source"] == app["spec"]["source"]
    assert st["operationState"]["message"] == "successfully synced (all tasks run)"
    assert st["operationState"]["syncResult"]["revision"] == sha
    assert st["operationState"]["operation"]["initiatedBy"] == {"automated": True}
    assert st["operationState"]["finishedAt"] >= st["operationState"]["startedAt"]
    assert st["summary"]["images"] == ["week6-api:dev-latest"]
    assert st["reconciledAt"] and st["health"]["lastTransitionTime"] and "conditions" not in st
    assert {(r["kind"], r["name"], r["status"]) for r in st["resources"]} == {
        ("Deployment", "week6-api", "Synced"), ("Service", "week6-api", "Synced"),
        ("ServiceAccount", "week6-api-sa", "Synced")}
    assert resource(app, "Deployment")["health"] == {"status": "Healthy"}
    assert "health" not in resource(app, "ServiceAccount")  # no health check for ServiceAccounts

    dep = argo.deployment("dev")
    svc = j(argo.core.read_namespaced_service("week6-api", "dev", _preload_content=False))
    sa = j(argo.core.read_namespaced_service_account("week6-api-sa", "dev", _preload_content=False))
    assert dep["metadata"]["annotations"][TRACKING] == "week6-api-dev:apps/Deployment:dev/week6-api"
    assert svc["metadata"]["annotations"][TRACKING] == "week6-api-dev:/Service:dev/week6-api"
    assert sa["metadata"]["annotations"][TRACKING] == "week6-api-dev:/ServiceAccount:dev/week6-api-sa"
    applied = [m for m in dep["metadata"]["managedFields"] if m["manager"] == "argocd-controller"]
    assert applied and applied[0]["operation"] == "Apply"
    assert dep["spec"]["replicas"] == 1 and dep["metadata"]["labels"]["app.kubernetes.io/instance"] == "week6-api"
    ns = j(argo.core.read_namespace("dev", _preload_content=False))  # CreateNamespace=true
    assert ns["status"]["phase"] == "Active"

    events = argo.wait_events("week6-api-dev", [
        f"Initiated automated sync to '{sha}'", f"Sync operation to {sha} succeeded",
        "Updated sync status:  -> OutOfSync", "Updated sync status: OutOfSync -> Synced",
        "Updated health status: Progressing -> Healthy"])
    assert {e["reason"] for e in events} >= {"OperationStarted", "OperationCompleted", "ResourceUpdated"}
    assert all(e["source"]["component"] == "argocd-application-controller" and e["count"] == 1
               and e["firstTimestamp"] and e.get("eventTime") is None for e in events)


def test_missing_image_tag_then_revert(argo: Argo, gitops: GitOpsRepo) -> None:
    """A commit with a tag the registry lacks: OutOfSync, then Synced at it with health Progressing
    (pods in ErrImagePull); `git revert` brings the app back to Healthy. Each commit adds history."""
    br, ns, name = branch(gitops), "drill-tag", "week6-api-tag"
    good = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    before = argo.wait_synced_healthy(name, good, history=1)

    bad = gitops.edit_yaml(VALUES_DEV, lambda v: v["image"].update(tag="9.9.9-missing"), "drill: missing tag")
    argo.refresh(name)
    states = argo.record(name, before["metadata"]["resourceVersion"],
                         lambda a: sync(a) == ("Synced", bad) and health(a) == "Progressing"
                         and a.get("operation") is None and len(hist(a)) == 2, 60,
                         "OutOfSync, then Synced at the bad commit with health Progressing")
    seq = [sync(a) for a in states]
    assert ("OutOfSync", bad) in seq and seq.index(("OutOfSync", bad)) < seq.index(("Synced", bad)), seq
    app = states[-1]
    assert REFRESH not in (app["metadata"].get("annotations") or {})  # the refresh annotation is consumed
    assert [h["id"] for h in hist(app)] == [0, 1] and hist(app)[1]["revision"] == bad
    assert op_state(app)["syncResult"]["revision"] == bad and op_phase(app) == "Succeeded"
    assert "Waiting for rollout to finish" in app["status"]["health"]["message"]
    assert argo.image(ns) == "week6-api:9.9.9-missing"
    pod = watch_until(argo.core.list_namespaced_pod,
                      lambda p: p["spec"]["containers"][0]["image"] == "week6-api:9.9.9-missing"
                      and waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff"), 60, ns,
                      desc="new pod cannot pull the missing tag")
    assert pod["status"]["phase"] == "Pending"
    # the old pod keeps serving: still Progressing, never Healthy, while the tag is missing
    assert health(argo.get(name)) == "Progressing"

    fixed = gitops.revert(bad)
    argo.refresh(name)
    app = argo.wait_synced_healthy(name, fixed, history=3)
    assert [h["revision"] for h in hist(app)] == [good, bad, fixed]
    assert argo.image(ns) == "week6-api:dev-latest"
    argo.wait_events(name, [f"Sync operation to {bad} succeeded", f"Sync operation to {fixed} succeeded",
                            "Updated health status: Healthy -> Progressing"])


def test_replica_drift_is_self_healed_with_a_partial_sync(argo: Argo, gitops: GitOpsRepo) -> None:
    """`kubectl scale` (the scale subresource) is reverted by selfHeal at once; the sync lists only
    the Deployment, counts autoHealAttemptsCount, and adds no history entry."""
    br, ns, name = branch(gitops), "drill-scale", "week6-api-scale"
    sha = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    argo.wait_synced_healthy(name, sha, history=1)
    dep = argo.deployment(ns)

    t0 = time.monotonic()
    argo.apps.patch_namespaced_deployment_scale("week6-api", ns, {"spec": {"replicas": 3}})
    watch_until(argo.apps.list_namespaced_deployment,
                lambda d: d["metadata"]["name"] == "week6-api" and d["spec"]["replicas"] == 1
                and d["metadata"]["generation"] > dep["metadata"]["generation"] + 1, 30, ns,
                desc="replicas back to 1")
    healed_after = time.monotonic() - t0
    assert healed_after < 10, f"self-heal took {healed_after:.1f}s"

    app = argo.wait(name, lambda a: op_state(a).get("operation", {}).get("sync", {}).get("resources")
                    and op_phase(a) == "Succeeded" and sync(a)[0] == "Synced" and a.get("operation") is None,
                    30, "the self-heal sync finished and the app is Synced")
    op = op_state(app)["operation"]
    assert op["sync"]["resources"] == [{"group": "apps", "kind": "Deployment", "name": "week6-api"}]
    assert op["sync"]["autoHealAttemptsCount"] == 1 and op["initiatedBy"] == {"automated": True}
    assert [r["kind"] for r in op_state(app)["syncResult"]["resources"]] == ["Deployment"]
    assert len(hist(app)) == 1, "a self-heal (partial) sync must not add a history entry"
    owners = [m for m in argo.deployment(ns)["metadata"]["managedFields"]
              if "f:replicas" in json.dumps(m.get("fieldsV1", {}).get("f:spec", {}))]
    assert [m["manager"] for m in owners] == ["argocd-controller"], owners
    argo.wait_events(name, [f"Partial sync operation to {sha} succeeded", "Updated sync status: Synced -> OutOfSync"])
    argo.wait(name, lambda a: health(a) == "Healthy", 60, "Healthy again")


def test_deleted_service_is_recreated_with_backoff(argo: Argo, gitops: GitOpsRepo) -> None:
    """A deleted Service is Missing/OutOfSync (app health stays Healthy, Argo CD >= 3.4) and is
    recreated by selfHeal; a second deletion waits for the back-off (2 s after the last heal)."""
    br, ns, name = branch(gitops), "drill-svc", "week6-api-svc"
    sha = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    before = argo.wait_synced_healthy(name, sha, history=1)
    old_uid = j(argo.core.read_namespaced_service("week6-api", ns, _preload_content=False))["metadata"]["uid"]

    def recreated(not_uid: str) -> dict:
        return watch_until(argo.core.list_namespaced_service,
                           lambda s: s["metadata"]["name"] == "week6-api" and s["metadata"]["uid"] != not_uid, 30, ns,
                           desc="Service recreated")

    argo.core.delete_namespaced_service("week6-api", ns)
    svc = recreated(old_uid)
    assert svc["metadata"]["annotations"][TRACKING] == f"{name}:/Service:{ns}/week6-api"
    states = argo.record(name, before["metadata"]["resourceVersion"],
                         lambda a: op_phase(a) == "Succeeded" and a.get("operation") is None
                         and (op_state(a)["operation"]["sync"].get("autoHealAttemptsCount") == 1)
                         and sync(a)[0] == "Synced", 30, "first heal done")
    missing = [a for a in states if sync(a)[0] == "OutOfSync"]
    assert missing, [summary(a) for a in states]
    assert resource(missing[0], "Service")["status"] == "OutOfSync"
    assert resource(missing[0], "Service")["health"]["status"] == "Missing"
    assert health(missing[0]) == "Healthy"  # 3.4+: one missing resource does not make the app Missing
    first_heal = states[-1]

    t0 = time.monotonic()
    argo.core.delete_namespaced_service("week6-api", ns)
    recreated(svc["metadata"]["uid"])
    waited = time.monotonic() - t0
    app = argo.wait(name, lambda a: op_state(a)["operation"]["sync"].get("autoHealAttemptsCount") == 2
                    and op_phase(a) == "Succeeded" and sync(a)[0] == "Synced", 30, "second heal done")
    started = op_state(app)["startedAt"]
    assert started >= op_state(first_heal)["finishedAt"]
    assert waited >= 1.0, f"second heal came after {waited:.2f}s; expected the 2 s back-off"
    assert len(hist(app)) == 1


def test_rollback_operation_to_history_entry(argo: Argo, gitops: GitOpsRepo) -> None:
    """The runner's argocd-rollback: auto-sync off, then an `operation` syncing to an older
    history entry's revision with its source. It succeeds, adds history, and leaves the app
    OutOfSync (Git still points at the newer commit); nothing syncs it forward again."""
    br, ns, name = branch(gitops), "drill-rollback", "week6-api-rollback"
    a_sha = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    argo.wait_synced_healthy(name, a_sha, history=1)
    b_sha = gitops.edit_yaml(VALUES_DEV, lambda v: v["image"].update(tag="1.1.0"), "release 1.1.0")
    argo.refresh(name)
    app = argo.wait_synced_healthy(name, b_sha, history=2)
    assert argo.image(ns) == "week6-api:1.1.0"

    argo.patch(name, {"spec": {"syncPolicy": {"automated": None}}})  # a copy with automated removed
    target = hist(argo.get(name))[0]
    for _ in range(10):  # what runner/argocd.py start_sync writes, with optimistic concurrency
        app = argo.get(name)
        assert "automated" not in app["spec"]["syncPolicy"] and app.get("operation") is None
        try:
            argo.patch(name, {
                "metadata": {"resourceVersion": app["metadata"]["resourceVersion"]},
                "operation": {
                    "initiatedBy": {"username": "release-drills"},
                    "info": [{"name": "reason", "value": "drill rollback"}],
                    "sync": {"revision": target["revision"], "source": target["source"], "prune": True,
                             "syncStrategy": {"apply": {}}},
                    "retry": {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}},
                }})
            break
        except ApiException as e:
            if e.status != 409:  # the stand-in wrote status in between: read again
                raise
    else:
        pytest.fail("could not write the operation: conflicts")
    app = argo.wait(name, lambda a: a.get("operation") is None and op_phase(a) == "Succeeded"
                    and op_state(a)["syncResult"]["revision"] == a_sha and len(hist(a)) == 3
                    and sync(a) == ("OutOfSync", b_sha), 60, "rollback done, app OutOfSync at the newer commit")
    assert hist(app)[2]["revision"] == a_sha and hist(app)[2]["initiatedBy"] == {"username": "release-drills"}
    assert hist(app)[2]["source"] == target["source"]
    assert op_state(app)["syncResult"]["source"] == target["source"]
    assert resource(app, "Deployment")["status"] == "OutOfSync"
    assert argo.image(ns) == "week6-api:dev-latest"
    argo.wait_events(name, ["initiated rollback to 0", f"Sync operation to {a_sha} succeeded"])
    app = argo.wait(name, lambda a: health(a) == "Healthy", 60, "Healthy on the rolled-back image")

    # a refresh compares again with Git: still OutOfSync, and no operation is started
    argo.refresh(name, "hard")
    app = argo.wait(name, lambda a: REFRESH not in (a["metadata"].get("annotations") or {}), 30, "refresh done")
    assert sync(app) == ("OutOfSync", b_sha) and app.get("operation") is None and len(hist(app)) == 3
    assert argo.image(ns) == "week6-api:dev-latest"


def test_stage_policy_leaves_drift_alone(argo: Argo, gitops: GitOpsRepo) -> None:
    """envs/stage (automated, selfHeal false): drift makes the app OutOfSync and stays so."""
    br, ns, name = branch(gitops), "drill-stage", "week6-api-stage"
    sha = gitops.head()
    argo.create(name, env="stage", branch=br, namespace=ns)
    app = argo.wait(name, lambda a: sync(a) == ("Synced", sha) and len(hist(a)) == 1 and op_phase(a) == "Succeeded",
                    60, "stage Synced")
    assert argo.deployment(ns)["spec"]["replicas"] == 2  # values-stage.yaml
    argo.apps.patch_namespaced_deployment_scale("week6-api", ns, {"spec": {"replicas": 4}})
    app = argo.wait(name, lambda a: sync(a)[0] == "OutOfSync", 30, "OutOfSync after drift")
    argo.refresh(name)
    app = argo.wait(name, lambda a: REFRESH not in (a["metadata"].get("annotations") or {}), 30, "refresh done")
    assert sync(app)[0] == "OutOfSync" and app.get("operation") is None and len(hist(app)) == 1
    assert resource(app, "Deployment")["status"] == "OutOfSync"
    assert argo.deployment(ns)["spec"]["replicas"] == 4


def test_render_error_then_prune(argo: Argo, gitops: GitOpsRepo) -> None:
    """A values file helm cannot parse: sync Unknown with a ComparisonError carrying helm's error.
    The next commit drops the ServiceAccount from the chart: auto-sync prunes it."""
    br, ns, name = branch(gitops), "drill-render", "week6-api-render"
    sha = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    argo.wait_synced_healthy(name, sha, history=1)

    broken = gitops.write(VALUES_DEV, "image: [unclosed\n", "drill: broken values")
    argo.refresh(name, "hard")
    app = argo.wait(name, lambda a: sync(a) == ("Unknown", broken), 30, "sync Unknown")
    cond = app["status"]["conditions"][0]
    assert cond["type"] == "ComparisonError" and cond["lastTransitionTime"]
    assert "helm template week6-api . --namespace drill-render --values values-dev.yaml" in cond["message"]
    assert "Error: failed to parse values-dev.yaml" in cond["message"]
    assert len(hist(app)) == 1 and app.get("operation") is None

    values = yaml.safe_load((REPO / "kind" / "platform-config" / VALUES_DEV).read_text())
    values["serviceAccount"] = {"create": False, "name": "default"}
    fixed = gitops.write(VALUES_DEV, yaml.safe_dump(values), "no dedicated ServiceAccount")
    argo.refresh(name)
    states = argo.record(name, app["metadata"]["resourceVersion"],
                         lambda a: sync(a) == ("Synced", fixed) and len(hist(a)) == 2 and op_phase(a) == "Succeeded"
                         and "conditions" not in a["status"]
                         and {r["kind"] for r in a["status"]["resources"]} == {"Deployment", "Service"},
                         60, "Synced after the fix, ServiceAccount gone")
    app = states[-1]
    # the full auto-sync to the fix (not a later self-heal) pruned the ServiceAccount
    full = next(op_state(a) for a in states if op_phase(a) == "Succeeded" and not a.get("operation")
                and op_state(a)["syncResult"]["revision"] == fixed and not op_state(a)["operation"]["sync"].get("resources"))
    pruned = [r for r in full["syncResult"]["resources"] if r["status"] == "Pruned"]
    assert [(r["kind"], r["name"]) for r in pruned] == [("ServiceAccount", "week6-api-sa")]
    with pytest.raises(ApiException) as err:
        argo.core.read_namespaced_service_account("week6-api-sa", ns)
    assert err.value.status == 404
    assert {r["kind"] for r in app["status"]["resources"]} == {"Deployment", "Service"}


def test_git_is_polled_without_a_refresh(argo: Argo, gitops: GitOpsRepo) -> None:
    """Without the refresh annotation a commit is picked up by the periodic reconciliation
    (RECONCILIATION_SECONDS + up to 2 s jitter here; Argo CD's default is 120 s + 0..60 s)."""
    br, ns, name = branch(gitops), "drill-poll", "week6-api-poll"
    sha = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    first = argo.wait(name, lambda a: sync(a) == ("Synced", sha) and len(hist(a)) == 1, 60, "Synced")
    new = gitops.edit_yaml(VALUES_DEV, lambda v: v.update(replicaCount=2), "two replicas")
    t0 = time.monotonic()
    app = argo.wait(name, lambda a: sync(a) == ("Synced", new) and len(hist(a)) == 2, RECONCILIATION_SECONDS + 20,
                    "new commit synced by polling")
    took = time.monotonic() - t0
    assert took <= RECONCILIATION_SECONDS + 2 + 5, f"poll took {took:.1f}s"
    assert app["status"]["reconciledAt"] > first["status"]["reconciledAt"]
    assert argo.deployment(ns)["spec"]["replicas"] == 2


def test_survives_an_apiserver_restart(argo: Argo, gitops: GitOpsRepo, controlplane) -> None:  # noqa: ANN001
    """Every watch of the stand-in is cut when kube-apiserver restarts; it reconnects (resuming
    or relisting) and still notices drift within seconds afterwards."""
    br, ns, name = branch(gitops), "drill-restart", "week6-api-restart"
    sha = gitops.head()
    argo.create(name, branch=br, namespace=ns)
    argo.wait_synced_healthy(name, sha, history=1)
    controlplane.restart("kube-apiserver")
    t0 = time.monotonic()
    argo.apps.patch_namespaced_deployment_scale("week6-api", ns, {"spec": {"replicas": 2}})
    watch_until(argo.apps.list_namespaced_deployment,
                lambda d: d["metadata"]["name"] == "week6-api" and d["spec"]["replicas"] == 1
                and d["metadata"]["generation"] >= 3, 60, ns, desc="drift healed after the restart")
    assert time.monotonic() - t0 < 30
    app = argo.wait(name, lambda a: sync(a)[0] == "Synced" and op_phase(a) == "Succeeded"
                    and op_state(a)["operation"]["sync"].get("autoHealAttemptsCount") == 1, 30, "healed")
    assert len(hist(app)) == 1
    text = argo.proc.log_path.read_text(errors="replace")
    assert "watch failed" in text or "relisting" in text, text[-3000:]


def test_reflector_relists_after_410_gone(controlplane, kube_api) -> None:  # noqa: ANN001
    """The stand-in's list+watch against a real 410: compact etcd, then watch Events (which the
    apiserver serves from etcd, not its watch cache) from a compacted resourceVersion."""
    import argocd_standin as standin

    core = client.CoreV1Api(kube_api)
    ns = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        def event(name: str) -> str:
            ev = core.create_namespaced_event(ns, {
                "metadata": {"name": name}, "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": ns},
                "reason": "Test", "message": name, "type": "Normal", "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1, "source": {"component": "test"}})
            return ev.metadata.resource_version
        old_rv = event("first")
        event("second")
        event("third")  # compacting at the current revision leaves nothing to resume from old_rv with
        with urllib.request.urlopen(urllib.request.Request(
                controlplane.etcd_url + "/v3/kv/range", data=b'{"key":"AA=="}', method="POST"), timeout=10) as r:
            revision = json.load(r)["header"]["revision"]
        with urllib.request.urlopen(urllib.request.Request(
                controlplane.etcd_url + "/v3/kv/compaction",
                data=json.dumps({"revision": revision, "physical": True}).encode(), method="POST"), timeout=10):
            pass
        seen: list[tuple[str, str]] = []
        done = threading.Event()

        def handler(typ: str, old: dict | None, new: dict | None) -> None:
            seen.append((typ, (new or old)["metadata"]["name"]))
            if {("ADDED", "first"), ("ADDED", "second"), ("ADDED", "third")} <= set(seen):
                done.set()
        stop = threading.Event()
        kube = standin.Kube(controlplane.api_client())
        r = standin.Reflector(kube, f"/api/v1/namespaces/{ns}/events", handler, stop, "test-events",
                              watch_timeout=5, resource_version=old_rv)
        r.start()
        try:
            assert done.wait(30), f"events not relisted; seen {seen}"
            assert r.relists == 1 and int(r.rv) >= int(revision)
        finally:
            stop.set()
    finally:
        core.delete_namespace(ns)


def test_standin_help_lists_what_it_is() -> None:
    out = subprocess.run([sys.executable, str(STANDIN), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "stand-in" in out.stdout
    import argocd_standin as standin
    doc = standin.__doc__ or ""
    assert "STAND-IN" in doc and "does NOT" in doc


def test_subset_comparison_rules() -> None:
    import argocd_standin as standin

    live = {"spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "a", "image": "x:1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "extra": True}]}}}}
    assert standin.is_subset({"spec": {"replicas": 1}}, live)
    assert not standin.is_subset({"spec": {"replicas": 3}}, live)
    assert standin.is_subset({"spec": {"template": {"spec": {"containers": [
        {"name": "a", "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}}]}}}}, live)
    assert not standin.is_subset({"spec": {"template": {"spec": {"containers": [{"image": "x:2"}]}}}}, live)
    assert standin.is_subset({"metadata": {"annotations": {}}, "spec": {"x": None, "y": []}}, {"spec": {}})
    assert standin.merge_diff({"a": 1, "b": {"c": 1, "d": 2}}, {"b": {"c": 1}, "e": [1]}) == {
        "a": None, "b": {"d": None}, "e": [1]}
    assert [standin.Controller.heal_delay(type("C", (), {"heal_base": 2.0, "heal_factor": 3.0, "heal_cap": 300.0})(), n)
            for n in range(8)] == [0, 2, 6, 18, 54, 162, 300, 300]
    assert standin.parse_duration("1m30s", 0) == 90 and standin.parse_duration("5", 0) == 5
    dep = {"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}}
    assert standin.deployment_health(dep) == (
        "Progressing", "Waiting for rollout to finish: 1 old replicas are pending termination...")
    dep["status"]["conditions"] = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
    assert standin.deployment_health(dep)[0] == "Degraded"
    assert copy.deepcopy(dep) == dep
