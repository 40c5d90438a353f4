"""Timing and behaviour of the simulated cluster, with the real-world default of every value.

Every default below is what a real cluster does out of the box, with its source; override any
of them with ``--sim-config FILE`` (YAML with the same keys, unknown keys are errors).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KubeletConfig(_Section):
    status_latency: float = 0.05
    """Seconds from a container state change to the pod status in the API (kubelet status manager
    syncs on change; tens of milliseconds on an idle node)."""
    image_pull_seconds: float = 2.0
    """Seconds to pull a small image that is not on the node yet (a 50 MB image on a fast registry)."""
    image_pull_fail_seconds: float = 0.8
    """Seconds until the registry answers "manifest unknown" for a tag that does not exist."""
    backoff_initial: float = 10.0
    """Image pull back-off start: kubelet ``backOffPeriod`` = 10 s (pkg/kubelet/kubelet.go)."""
    backoff_max: float = 300.0
    """Back-off cap: kubelet ``MaxContainerBackOff`` = 300 s (pkg/kubelet/kubelet.go)."""
    err_to_backoff_seconds: float = 1.0
    """After ErrImagePull the next pod sync reports ImagePullBackOff (about a second later)."""
    container_start_seconds: float = 0.5
    """Create + start of a container whose image is present."""
    termination_seconds: float = 1.0
    """The sample app exits on SIGTERM at once; terminationGracePeriodSeconds (30 s) is only the cap."""


class ControllerConfig(_Section):
    deployment_latency: float = 0.01
    """Deployment controller reaction to a change (informer event -> sync, ~10 ms idle)."""
    replicaset_latency: float = 0.01
    scheduler_latency: float = 0.02
    endpoints_latency: float = 0.02
    watch_latency: float = 0.002
    """apiserver -> runner watch delivery on a local network."""


class ArgoCDConfig(_Section):
    version: str = "3.4"
    """Argo CD minor version: from 3.4 a missing resource no longer makes the whole app Missing
    (argo-cd PR #25962); earlier versions report Missing."""
    reconciliation_seconds: float = 120.0
    """``timeout.reconciliation``: 120 s in v3 (argocd-application-controller defaultAppResyncPeriod)."""
    reconciliation_jitter: float = 60.0
    """``timeout.reconciliation.jitter``: 60 s in v3, so Git is polled every 120-180 s."""
    refresh_seconds: float = 1.0
    """A requested refresh: repo-server ``helm template`` and the comparison, about a second."""
    resource_change_seconds: float = 0.5
    """A managed resource changed: the cluster cache asks for an app refresh within ~0.5 s."""
    operation_start_seconds: float = 0.2
    sync_seconds: float = 1.0
    """Apply of a small app's manifests, start to finish."""
    self_heal_backoff_seconds: float = 2.0
    """``--self-heal-backoff-timeout-seconds`` default 2 (argocd-application-controller)."""
    self_heal_backoff_factor: float = 3.0
    """``--self-heal-backoff-factor`` default 3."""
    self_heal_backoff_cap_seconds: float = 300.0
    """``--self-heal-backoff-cap-seconds`` default 300."""


class RegistryImage(_Section):
    tags: list[str]
    paths: list[str] = Field(default_factory=lambda: ["/", "/health"])
    """HTTP paths the app in this image serves with 200 (anything else: 404)."""


class SimConfig(_Section):
    seed: int = 1
    """Seed of every random choice (pod names, Argo CD jitter): same seed, same run."""
    pace: float = 0.0
    """Simulated seconds per real second: 0 runs as fast as possible (tests, dry rehearsals); 1 is
    real time, 10 ten times faster, so people can take part (game-day rehearsals)."""
    platform_config: Path | None = None
    """The GitOps repository content; default: kind/platform-config of this checkout."""
    kubelet: KubeletConfig = Field(default_factory=KubeletConfig)
    controllers: ControllerConfig = Field(default_factory=ControllerConfig)
    argocd: ArgoCDConfig = Field(default_factory=ArgoCDConfig)
    registry: dict[str, RegistryImage] = Field(
        default_factory=lambda: {
            "week6-api": RegistryImage(tags=["1.0.0", "dev-latest", "stage-latest", "prod-latest"]),
        }
    )
    helm_releases: dict[str, str] = Field(
        default_factory=lambda: {"sandbox/week6-api": "values-dev.yaml"},
        description="Plain Helm releases installed at start: namespace/release -> values file of the chart.",
    )
