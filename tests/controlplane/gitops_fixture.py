"""A real, local GitOps repository for the Argo CD stand-in: a bare Git repo seeded from
kind/platform-config, plus a working clone to commit to (the way a person or the runner would).

    repo = GitOpsRepo.create(tmp_path / "gitops")          # bare repo + clone, branch main
    repo.url                                                # file:///.../platform-config.git
    sha = repo.edit_yaml("apps/week6-api/values-dev.yaml",
                         lambda v: v["image"].update(tag="9.9.9-missing"), "bad tag")
    repo.revert(sha)                                        # `git revert`, pushed
    repo.branch("drill-1")                                  # a new branch at main, pushed

    install_application_crd(cp.api_client())               # the Application CRD, Established
    proc = start_argocd_standin(cp, {SAMPLE_REPO_URL: repo.bare})   # argocd_standin.py, ready
    stop_argocd_standin(cp, proc)                           # stop it and forget it

The last two wire up the Argo CD stand-in on a tests/controlplane ControlPlane.
Real `git` only, argument lists (no shell). Commits are made with a fixed identity and no user
or system config (GIT_CONFIG_GLOBAL/GIT_CONFIG_NOSYSTEM), so the machine's git setup does not
matter. Standard library + PyYAML; it must not import the ``runner`` package.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
PLATFORM_CONFIG = REPO_ROOT / "kind" / "platform-config"
SAMPLE_REPO_URL = "https://github.com/your-org/platform-config.git"  # repoURL of kind/platform-config/envs/*
APPLICATION_CRD = HERE / "argocd-application-crd.yaml"
STANDIN = HERE / "argocd_standin.py"


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "release-drills", "GIT_AUTHOR_EMAIL": "drills@example.invalid",
        "GIT_COMMITTER_NAME": "release-drills", "GIT_COMMITTER_EMAIL": "drills@example.invalid",
    })
    return env


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git with an argument list; return stdout (stripped). Raises CalledProcessError with stderr."""
    p = subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, ["git", *args], p.stdout, p.stderr)
    return p.stdout.strip()


class GitOpsRepo:
    """A bare repository (what Argo CD would clone) and a working clone that pushes to it."""

    def __init__(self, bare: Path, work: Path, url: str) -> None:
        self.bare, self.work, self.url = bare, work, url

    @classmethod
    def create(cls, root: Path, source: Path = PLATFORM_CONFIG, branch: str = "main",
               url: str | None = None) -> "GitOpsRepo":
        """Seed a bare repo at root/platform-config.git from `source` (one commit on `branch`)."""
        root.mkdir(parents=True, exist_ok=True)
        bare, work = root / "platform-config.git", root / "work"
        git("init", "--bare", "--initial-branch", branch, str(bare))
        shutil.copytree(source, work)
        git("init", "--initial-branch", branch, cwd=work)
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", "seed from kind/platform-config", cwd=work)
        git("remote", "add", "origin", str(bare), cwd=work)
        git("push", "--quiet", "origin", branch, cwd=work)
        return cls(bare, work, url or bare.as_uri())

    def head(self, ref: str = "HEAD") -> str:
        return git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}", cwd=self.work)

    def current_branch(self) -> str:
        return git("rev-parse", "--abbrev-ref", "HEAD", cwd=self.work)

    def checkout(self, branch: str) -> None:
        git("checkout", "--quiet", branch, cwd=self.work)

    def branch(self, name: str, start: str = "main") -> str:
        """Create `name` at `start`, check it out and push it; return its SHA."""
        git("checkout", "--quiet", "-B", name, start, cwd=self.work)
        git("push", "--quiet", "origin", name, cwd=self.work)
        return self.head()

    def write(self, path: str, text: str, message: str) -> str:
        """Write a file on the checked-out branch, commit, push; return the new SHA."""
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git("add", "--", path, cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", self.current_branch(), cwd=self.work)
        return self.head()

    def edit_yaml(self, path: str, edit: Callable[[Any], Any], message: str) -> str:
        """Load a YAML file, let `edit` change it in place (or return a replacement), commit, push."""
        data = yaml.safe_load((self.work / path).read_text())
        result = edit(data)
        return self.write(path, yaml.safe_dump(result if result is not None else data, sort_keys=False), message)

    def revert(self, sha: str) -> str:
        git("revert", "--no-edit", sha, cwd=self.work)
        git("push", "--quiet", "origin", self.current_branch(), cwd=self.work)
        return self.head()


# ---------------------------------------------------------------------------- the Argo CD stand-in

def install_application_crd(api_client: Any, timeout: float = 60.0) -> None:
    """Create (or keep) applications.argoproj.io and wait until it is Established."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from waiting import condition, watch_until  # tests/controlplane/waiting.py

    ext = client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(yaml.safe_load(APPLICATION_CRD.read_text()))
    except ApiException as e:
        if e.status != 409:
            raise
    watch_until(ext.list_custom_resource_definition,
                lambda c: c["metadata"]["name"] == "applications.argoproj.io"
                and condition(c, "Established").get("status") == "True",
                timeout, field_selector="metadata.name=applications.argoproj.io", desc="Application CRD Established")


def start_argocd_standin(cp: Any, repos: Mapping[str, Path], *, namespace: str = "argocd",
                         name: str = "argocd-standin", args: Sequence[str] = (), timeout: float = 60.0) -> Any:
    """Create `namespace` and start argocd_standin.py as a process of the ControlPlane `cp`
    (stopped with it, log in cp.log_dir/<name>.log); return once it has listed everything.
    `repos` maps repoURLs to local bare repositories; `args` are extra flags, e.g.
    ["--reconciliation-seconds", "10", "--jitter-seconds", "2"]."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = cp.api_client()
    try:
        client.CoreV1Api(api).create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    except ApiException as e:
        if e.status != 409:
            raise
    finally:
        api.close()
    ready = Path(cp.state_dir) / f"{name}.ready"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, str(STANDIN), "--kubeconfig", str(cp.kubeconfig), "--context", cp.context,
            "--namespace", namespace, "--helm", str(cp.helm_bin), "--ready-file", str(ready)]
    for url, path in repos.items():
        argv += ["--repo", f"{url}={path}"]
    return cp.start_process(name, [*argv, *args], ready=ready.exists, timeout=timeout)


def stop_argocd_standin(cp: Any, proc: Any) -> None:
    """Stop the stand-in before the plane stops, and drop it from cp.processes (a plane shared by
    a session checks that every process in it is alive)."""
    proc.stop()
    if cp.processes.get(proc.name) is proc:
        del cp.processes[proc.name]
