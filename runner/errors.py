"""The whole exception tree of release-drills, and nothing else.

Two branches, as in Chaos Toolkit: definitions that are wrong (a drill file, a suite, a target
config, bad usage) and things that went wrong at run time. Every class names when it is raised;
``exit_code`` is what the CLI returns when it reaches the top. A missed expectation is not an
exception: it is a result (exit 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class DrillsError(Exception):
    """Root of every error the runner raises on purpose."""

    exit_code: ClassVar[int] = 1
    retryable: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in an input file, at a place a person can jump to."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DrillDefinitionError(DrillsError):
    """Raised when drill, suite or target files are invalid; holds every problem found at once."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(DrillsError):
    """Raised when the command line asks for something that cannot be done (unknown target, no drills)."""

    exit_code = 2


class DrillNotFound(DrillsError, LookupError):
    """Raised when a drill or run id is looked up and does not exist."""

    exit_code = 2

    def __init__(self, name: str, where: str = "") -> None:
        self.name = name
        super().__init__(f"no drill named {name!r}" + (f" in {where}" if where else ""))


# --- run time -------------------------------------------------------------------------------


class TargetError(DrillsError):
    """Raised when talking to the target (cluster, Git, Helm) failed; the drill ends `error`."""


class TargetUnavailable(TargetError):
    """Raised on timeouts, 5xx and 429 answers; worth retrying."""

    retryable = True


class ResourceNotFound(TargetError):
    """Raised when an object the drill needs does not exist."""

    def __init__(self, kind: str, namespace: str, name: str, message: str | None = None) -> None:
        self.kind, self.namespace, self.name = kind, namespace, name
        super().__init__(message or f"{kind} {namespace}/{name} not found")


class ResourceConflict(TargetError):
    """Raised on 409 Conflict or a stale resourceVersion; worth retrying after a re-read."""

    retryable = True


class GuardrailRefused(DrillsError):
    """Raised when a safety rule forbids the drill on this target (namespace, context, production)."""

    exit_code = 2


class PreflightFailed(DrillsError):
    """Raised when the steady state does not hold before injection; nothing was changed."""


class FaultInjectionError(DrillsError):
    """Raised when the fault could not be applied; nothing needs rolling back."""


class RollbackError(DrillsError):
    """Raised when the rollback step failed; restore still runs."""


class RestoreFailed(DrillsError):
    """Raised when restore could not bring the target back; carries the commands a person can run."""

    exit_code = 3

    def __init__(self, message: str, commands: list[str]) -> None:
        self.commands = commands
        super().__init__(message)


class DrillAborted(DrillsError):
    """Raised when a drill is interrupted (signal, global timeout); restore still runs."""
