"""What kind/ and the runner chart apply is valid on a real apiserver (server-side dry run), the
scripts are shellcheck-clean, and a runner bound to exactly kind/rbac.yaml completes drills."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic

from kubehelp import install_release, targets_file

from runner import loader
from runner.engine import Engine
from runner.kinds import Outcome, RestoreStatus
from runner.targets.kube import KubeTarget

pytestmark = pytest.mark.controlplane
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"


def ensure_namespace(api: Any, name: str) -> None:
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise


def apply(api: Any, docs: list[dict[str, Any]], *, dry_run: bool, namespace: str | None = None) -> list[str]:
    """Server-side apply every document (dry run: validated and admitted, not stored)."""
    dyn = dynamic.DynamicClient(api)
    done = []
    for doc in docs:
        if not doc:
            continue
        res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        ns = doc["metadata"].get("namespace") or (namespace if res.namespaced else None)
        res.server_side_apply(body=doc, name=doc["metadata"]["name"], namespace=ns, field_manager="release-drills-test",
                              force_conflicts=True, dry_run="All" if dry_run else None)
        done.append(f"{doc['kind']}/{doc['metadata']['name']}")
    return done


def test_scripts_are_shellcheck_clean() -> None:
    assert shutil.which("shellcheck"), "shellcheck is needed (.ci/run installs it from Debian's packages)"
    scripts = [REPO / "kind/up.sh", REPO / "kind/down.sh", REPO / ".ci/run",
               *sorted((REPO / "tests/controlplane").glob("*.sh"))]
    r = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_kind_manifests_pass_a_server_side_dry_run(controlplane: Any, kube_api: Any) -> None:
    for ns in ("dev", "stage", "sandbox", "argocd", "gitops", "release-drills"):
        ensure_namespace(kube_api, ns)
    apply(kube_api, list(yaml.safe_load_all((REPO / "tests/controlplane/argocd-application-crd.yaml").read_text())),
          dry_run=False)
    done = apply(kube_api, list(yaml.safe_load_all((REPO / "kind/git-server.yaml").read_text())), dry_run=True)
    assert done == ["Namespace/gitops", "Deployment/git-server", "Service/git-server"]
    done = apply(kube_api, list(yaml.safe_load_all((REPO / "kind/rbac.yaml").read_text())), dry_run=True)
    assert "ClusterRole/release-drills-runner" in done and "RoleBinding/release-drills-helm" in done
    apps = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "kind/platform-config/envs").glob("*/week6-api-app.yaml"))]
    assert len(apply(kube_api, apps, dry_run=True)) == 3


def test_runner_chart_renders_with_the_real_helm_and_dry_runs(controlplane: Any, kube_api: Any) -> None:
    for ns in ("dev", "stage", "sandbox", "argocd", "release-drills"):
        ensure_namespace(kube_api, ns)
    for mode in ("deployment", "cronjob"):
        r = controlplane.helm("template", "release-drills", str(CHART), "-n", "release-drills", "--set", f"mode={mode}",
                              "--set-file", f"config.files.suites__nightly\\.yaml={REPO / 'drills/suites/nightly.yaml'}",
                              "--set-file", f"config.files.replica-drift\\.yaml={REPO / 'drills/replica-drift.yaml'}")
        docs = [d for d in yaml.safe_load_all(r.stdout) if d]
        kinds = sorted({d["kind"] for d in docs})
        assert ("Deployment" in kinds) == (mode == "deployment") and ("CronJob" in kinds) == (mode == "cronjob")
        workload = next(d for d in docs if d["kind"] in ("Deployment", "CronJob"))
        pod = workload["spec"]["template"]["spec"] if mode == "deployment" else workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        assert args[0] == ("schedule" if mode == "deployment" else "run") and "/config/suites/nightly.yaml" in args
        bindings = {d["roleRef"]["name"] for d in docs if d["kind"] == "RoleBinding"}
        rbac_roles = {d["metadata"]["name"] for d in yaml.safe_load_all((REPO / "kind/rbac.yaml").read_text())
                      if d and d["kind"] == "ClusterRole"}
        assert bindings == rbac_roles  # bound to exactly the least-privilege roles of kind/rbac.yaml
        apply(kube_api, docs, dry_run=True, namespace="release-drills")
        target = yaml.safe_load(next(d for d in docs if d["metadata"]["name"].endswith("-target"))["data"]["targets.yaml"])
        res = loader.load_text(yaml.safe_dump(target), "targets.yaml")
        assert not res.problems, [str(p) for p in res.problems]


def _token_kubeconfig(cp: Any, api: Any, path: Path) -> Path:
    core = client.CoreV1Api(api)
    tr = core.create_namespaced_service_account_token("release-drills", "release-drills",
                                                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                                       "spec": {"expirationSeconds": 3600}})
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "runner",
        "clusters": [{"name": "plane", "cluster": {"server": cp.api_url, "certificate-authority": str(cp.ca_file)}}],
        "users": [{"name": "runner", "user": {"token": tr.status.token}}],
        "contexts": [{"name": "runner", "context": {"cluster": "plane", "user": "runner"}}],
    }))
    return path


def test_a_runner_bound_to_exactly_kind_rbac_completes_drills(controlplane: Any, kube_api: Any, tmp_path: Path) -> None:
    for ns in ("dev", "stage", "sandbox", "argocd", "release-drills"):
        ensure_namespace(kube_api, ns)
    apply(kube_api, list(yaml.safe_load_all((REPO / "kind/rbac.yaml").read_text())), dry_run=False)
    install_release(controlplane, "sandbox")
    kc = _token_kubeconfig(controlplane, kube_api, tmp_path / "runner.kubeconfig")
    tf = targets_file(tmp_path / "targets.yaml", controlplane, ["dev", "stage", "sandbox"],
                      charts={"sandbox/week6-api": str(REPO / "kind/platform-config/apps/week6-api")})
    doc = yaml.safe_load(tf.read_text())
    doc["spec"]["targets"]["plane"].update({"kubeconfig": str(kc), "context": "runner"})
    tf.write_text(yaml.safe_dump(doc))
    cfg = loader.load_file(tf).documents[0].model.spec.targets["plane"]
    t = KubeTarget("plane", cfg, config_path=tf)
    # the seed drill exactly as written, plus API drills on the same release
    drills, res = loader.drills_to_run([REPO / "drills" / "bad-readiness-path.yaml"])
    assert not res.problems
    extra = loader.load_text((REPO / "tests/data/rbac-drills.yaml").read_text(), "rbac-drills.yaml")
    assert not extra.problems, [str(p) for p in extra.problems]
    engine = Engine(t, list(t.drill_observers()))
    for d in [*drills, *extra.documents]:
        run = engine.run(d.model, d.where)
        assert run.verdict and run.verdict.outcome is Outcome.PASSED, (d.model.metadata.name, run.error, run.aborted,
                                                                      [(e.kind.value, e.message) for e in run.timeline][-8:])
        assert run.restore and run.restore.status in (RestoreStatus.CLEAN, RestoreStatus.REPAIRED)
    t.close()
    # the runner's own Events say a drill, not an incident, changed the app
    events = client.CoreV1Api(kube_api).list_namespaced_event("sandbox").items
    reasons = {e.reason for e in events if e.source and e.source.component == "release-drills"}
    assert {"DrillStarted", "DrillFaultInjected", "DrillRollbackStarted", "DrillFinished"} <= reasons
