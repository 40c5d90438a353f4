"""Safety rules checked before a drill touches a real cluster. Pure: decisions, no I/O.

A drill may only touch namespaces its target config lists; namespaces that run the cluster
itself are refused always, whatever the config says; a production-like target needs --approve;
the kubeconfig context must be the one the target config names.
"""
from __future__ import annotations

import re

from runner.errors import GuardrailRefused
from runner.model import Drill
from runner.targets.config import TargetConfig

ALWAYS_REFUSED = re.compile(r"^(kube-.*|openshift(-.*)?|istio-system|cert-manager|gatekeeper-system|local-path-storage)$")
"""Namespaces that run the cluster itself; never a drill target."""


def check(drill: Drill, name: str, target: TargetConfig, *, approve: bool, context: str | None) -> None:
    """Raise GuardrailRefused with a sentence when the drill must not run on this target."""
    ns = drill.spec.target.namespace
    who = f"drill {drill.metadata.name!r} on target {name!r}"
    if ALWAYS_REFUSED.match(ns):
        raise GuardrailRefused(f"{who}: namespace {ns!r} runs the cluster itself; drills never touch it")
    if ns == target.argocd_namespace:
        raise GuardrailRefused(f"{who}: namespace {ns!r} is Argo CD's own namespace; drills never touch it")
    if ns not in target.namespaces:
        raise GuardrailRefused(f"{who}: namespace {ns!r} is not in the target's allowed namespaces "
                               f"({', '.join(target.namespaces)})")
    if drill.spec.target.argocd_namespace != target.argocd_namespace and drill.spec.target.application:
        raise GuardrailRefused(f"{who}: the drill expects Argo CD in {drill.spec.target.argocd_namespace!r}, the target "
                               f"config says {target.argocd_namespace!r}")
    if context is not None and target.context is not None and context != target.context:
        raise GuardrailRefused(f"{who}: context {context!r} is not the target's context {target.context!r}")
    if target.production_like and not approve:
        raise GuardrailRefused(f"{who}: the target is production-like; rerun with --approve if you mean it")
