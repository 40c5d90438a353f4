"""Helm releases through the ``helm`` CLI (Helm has no Python API).

Argument lists, a timeout, output captured, ``-o json`` wherever Helm offers it; the target's
kubeconfig and context are passed explicitly. ``upgrade`` needs the chart: the target config
names it per release (a path or repo/chart).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Mapping

from runner.errors import TargetError, TargetUnavailable
from runner.targets.base import HelmRevision


class HelmCli:
    def __init__(self, binary: str = "helm", *, kubeconfig: str | None = None, context: str | None = None,
                 charts: Mapping[str, str] | None = None, timeout: float = 300.0) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.context = context
        self.charts = dict(charts or {})
        self.timeout = timeout

    def _run(self, *args: str) -> str:
        argv = [self.binary, *args]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--kube-context", self.context]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError as exc:
            raise TargetError(f"helm not found ({self.binary}); install Helm or set helm.binary in the target config") from exc
        except subprocess.TimeoutExpired as exc:
            raise TargetUnavailable(f"helm {args[0]} timed out after {self.timeout:g} s") from exc
        if proc.returncode != 0:
            raise TargetError(f"helm {' '.join(args[:2])} failed: {proc.stderr.strip()[-400:]}")
        return proc.stdout

    def history(self, release: str, namespace: str) -> list[HelmRevision]:
        try:
            rows: list[dict[str, Any]] = json.loads(self._run("history", release, "-n", namespace, "-o", "json", "--max", "256"))
        except TargetError as exc:
            if "not found" in str(exc):
                return []
            raise
        return [HelmRevision(int(r["revision"]), r["status"], r.get("description", ""), r.get("chart", ""), r.get("updated", ""))
                for r in rows]

    def values(self, release: str, namespace: str, revision: int | None = None) -> dict[str, Any]:
        args = ["get", "values", release, "-n", namespace, "-o", "json"]
        if revision is not None:
            args += ["--revision", str(revision)]
        data = json.loads(self._run(*args) or "null")
        return data or {}

    def upgrade(self, release: str, namespace: str, sets: Mapping[str, str], *, reuse_values: bool = True) -> int:
        chart = self.chart_ref(release, namespace)
        args = ["upgrade", release, chart, "-n", namespace]
        if reuse_values:
            args.append("--reuse-values")
        for k, v in sets.items():
            args += ["--set", f"{k}={v}"]
        self._run(*args)
        return self.history(release, namespace)[-1].revision

    def rollback(self, release: str, namespace: str, revision: int) -> int:
        self._run("rollback", release, str(revision), "-n", namespace)
        return self.history(release, namespace)[-1].revision

    def chart_ref(self, release: str, namespace: str) -> str:
        chart = self.charts.get(f"{namespace}/{release}")
        if chart is None:
            raise TargetError(f"no chart configured for Helm release {namespace}/{release}: add it under "
                              f"helm.charts in the target config")
        return str(Path(chart)) if not chart.startswith(("oci://",)) and "/" in chart and Path(chart).exists() else chart
