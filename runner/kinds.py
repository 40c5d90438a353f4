"""Closed sets of words the whole runner shares: injection paths, phases, outcomes, Argo CD states.

Pure: no I/O, no imports from the rest of the package. Fault kinds, rollback strategies and
signals are open sets and live in their registries (`runner.faults`, `runner.rollbacks`,
`runner.signals`) so that adding one is one file.
"""
from __future__ import annotations

from enum import Enum


class InjectVia(str, Enum):
    """How a fault reaches the target.

    GIT: commit a change to the app's values file in the GitOps repository; Argo CD syncs it.
    HELM: ``helm upgrade --reuse-values --set ...`` on a plain Helm release.
    API: change the live object through the Kubernetes API (patch, scale, delete): drift.
    """

    GIT = "git"
    HELM = "helm"
    API = "api"


class Phase(str, Enum):
    """The phases of one drill run, in order.

    PREFLIGHT: steady state must hold (app Synced and Healthy, deployment available) or the drill aborts.
    INJECT: the fault is applied, after the pre-drill state was captured.
    DETECT: watch until a detection signal arrives or ``detect.timeout`` passes.
    ROLLBACK: the configured rollback strategy runs.
    RECOVER: watch until every recovery signal holds or ``recover.timeout`` passes.
    RESTORE: always: compare with the pre-drill state and repair what differs.
    REPORT: results are written.
    """

    PREFLIGHT = "preflight"
    INJECT = "inject"
    DETECT = "detect"
    ROLLBACK = "rollback"
    RECOVER = "recover"
    RESTORE = "restore"
    REPORT = "report"


class Outcome(str, Enum):
    """How a drill ended.

    PASSED: detected and recovered, every expectation met.
    FAILED: detected and recovered, but an expectation was missed (too slow).
    NOT_DETECTED: no detection signal within ``detect.timeout``.
    NOT_RECOVERED: detected, but recovery did not hold within ``recover.timeout``.
    ABORTED: stopped before or during the run (preflight failed, interrupted).
    ERROR: the runner could not do its job (target unreachable, injection failed).
    """

    PASSED = "passed"
    FAILED = "failed"
    NOT_DETECTED = "not-detected"
    NOT_RECOVERED = "not-recovered"
    ABORTED = "aborted"
    ERROR = "error"


class RestoreStatus(str, Enum):
    """What restore found and did.

    CLEAN: the target already matched its pre-drill state.
    REPAIRED: something differed and restore put it back; verified afterwards.
    NEEDS_MANUAL_REPAIR: restore could not put it back; the result lists the commands to run.
    SKIPPED: nothing was injected, so there was nothing to restore.
    """

    CLEAN = "clean"
    REPAIRED = "repaired"
    NEEDS_MANUAL_REPAIR = "needs-manual-repair"
    SKIPPED = "skipped"


class SyncStatus(str, Enum):
    """Argo CD ``status.sync.status`` (argo-cd pkg/apis/application/v1alpha1 ``SyncStatusCode*``)."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatus(str, Enum):
    """Argo CD ``status.health.status`` (gitops-engine pkg/health ``HealthStatusCode``)."""

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"
