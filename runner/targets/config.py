"""Target configuration files (``kind: Targets``, default ``drills/targets.yaml``).

Each named target says how to reach a cluster (kubeconfig context or in-cluster), which
namespaces drills may touch, where Argo CD lives, the GitOps repository (URL or local path,
branch, credentials by environment variable name: never the secret itself) and whether it is
production-like. Validated like drill files, with file:line problems. Pure.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GitOpsConfig(_M):
    url: str = Field(description="Repository URL or local path (relative to the targets file).")
    branch: str = "main"
    username_env: str | None = Field(default=None, alias="username-env", description="Env var holding the Git user name.")
    password_env: str | None = Field(default=None, alias="password-env", description="Env var holding the token/password.")
    serves: tuple[str, ...] = Field(default=(), description="Application repoURLs this repository stands for (default: any).")

    @model_validator(mode="after")
    def _no_inline_secrets(self) -> GitOpsConfig:
        import re

        m = re.match(r"^([A-Za-z][\w+.-]*)://([^/?#]*)@", self.url)
        # only ssh may name a bare user (ssh://git@host); anything else before '@' is, or may be, a secret
        if m and (":" in m.group(2) or m.group(1).lower() not in ("ssh", "git+ssh", "ssh+git")):
            raise ValueError("put credentials in environment variables (username-env, password-env), not in the URL")
        return self


class HelmConfig(_M):
    binary: str = "helm"
    charts: dict[str, str] = Field(default_factory=dict, description="namespace/release -> chart path or repo/chart for helm upgrade.")


class TargetConfig(_M):
    description: str = ""
    context: str | None = Field(default=None, description="kubeconfig context; required unless in-cluster.")
    kubeconfig: str | None = Field(default=None, description="kubeconfig file; default $KUBECONFIG or ~/.kube/config.")
    in_cluster: bool = Field(default=False, alias="in-cluster")
    namespaces: tuple[str, ...] = Field(min_length=1, description="The only namespaces drills may touch.")
    argocd_namespace: str = Field(default="argocd", alias="argocd-namespace")
    lock_namespace: str = Field(default="release-drills", alias="lock-namespace",
                                description="Namespace of the scheduler's per-target Lease.")
    production_like: bool = Field(default=False, alias="production-like", description="Refuse without --approve.")
    request_timeout: float = Field(default=30.0, gt=0, le=600, alias="request-timeout",
                                   description="Seconds to wait for one API answer before retrying it.")
    gitops: GitOpsConfig | None = None
    helm: HelmConfig = Field(default_factory=HelmConfig)

    @model_validator(mode="after")
    def _context_or_in_cluster(self) -> TargetConfig:
        if not self.in_cluster and not self.context:
            raise ValueError("give a kubeconfig 'context', or 'in-cluster: true'")
        return self


class TargetsSpec(_M):
    default: str | None = None
    # names become Lease names (release-drills-<name>) and report folder names
    targets: dict[Annotated[str, Field(pattern=NAME, max_length=48)], TargetConfig] = Field(min_length=1)


class TargetsMetadata(_M):
    name: str = Field(pattern=NAME, max_length=63)


class TargetsFile(_M):
    api_version: Literal["drills.release/v1"] = Field(alias="apiVersion")
    kind: Literal["Targets"]
    metadata: TargetsMetadata
    spec: TargetsSpec

    @model_validator(mode="after")
    def _default_exists(self) -> TargetsFile:
        if self.spec.default is not None and self.spec.default not in self.spec.targets:
            raise ValueError(f"default target {self.spec.default!r} is not defined under spec.targets")
        return self


def resolve(path: Path, value: str) -> str:
    """A path in the targets file, relative to the file (URLs and absolute paths unchanged)."""
    if "://" in value or value.startswith(("git@", "/", "~")):
        return str(Path(value).expanduser()) if value.startswith("~") else value
    return str((path.parent / value).resolve())
