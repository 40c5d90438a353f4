"""Crash-safe journal: an undo record on disk before every injection, so a runner killed mid-drill
(SIGKILL, power loss) leaves enough behind for ``drills recover`` to put the target back.

One JSON file per open drill under ``<state>/journal/<target>/``, written to a temporary file,
fsynced and renamed (so a crash never leaves half a record), updated after injection, removed
once restore verified the target. It holds the drill as loaded, the target's name, the pre-drill
state (``Baseline``), what was injected and the commands a person would run to undo it. While a
target has an open record, ``drills run`` and ``drills schedule`` refuse it (unless ``--force``).
Simulated targets keep no journal: their state dies with the process.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.context import Baseline, InjectionRecord


def default_dir() -> Path:
    base = os.environ.get("DRILLS_STATE") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state"), "release-drills")
    return Path(base) / "journal"


@dataclass(frozen=True)
class Entry:
    path: Path
    data: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.data["run_id"])

    @property
    def drill_name(self) -> str:
        return str(self.data["drill"]["metadata"]["name"])

    def describe(self) -> str:
        return (f"drill {self.drill_name} (run {self.run_id}, pid {self.data.get('pid')} on {self.data.get('host')}, "
                f"started {self.data.get('started_at')}, phase {self.data.get('phase')})")

    def baseline(self) -> Baseline:
        return Baseline(**self.data["baseline"])

    def injection(self) -> InjectionRecord | None:
        inj = self.data.get("injection")
        return InjectionRecord(**inj) if inj else None


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)  # the rename itself must survive a crash
    finally:
        os.close(dirfd)


class Journal:
    def __init__(self, root: Path, target: str) -> None:
        self.dir = root / target
        self.target = target

    def _path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def open(self, run_id: str, drill: dict[str, Any], source: str, baseline: Baseline, started_at: str) -> None:
        """Before injection: what will change and how it was before."""
        _write(self._path(run_id), {
            "run_id": run_id, "target": self.target, "drill": drill, "source": source, "pid": os.getpid(),
            "host": socket.gethostname(), "started_at": started_at, "phase": "inject",
            "baseline": dataclasses.asdict(baseline), "injection": None,
        })

    def update(self, run_id: str, **fields: Any) -> None:
        path = self._path(run_id)
        data = json.loads(path.read_text())
        for k, v in fields.items():
            data[k] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
        _write(path, data)

    def close(self, run_id: str) -> None:
        self._path(run_id).unlink(missing_ok=True)

    def entries(self) -> list[Entry]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.json")):
            try:
                out.append(Entry(p, json.loads(p.read_text())))
            except (OSError, ValueError):
                out.append(Entry(p, {"run_id": p.stem, "drill": {"metadata": {"name": "?"}}, "phase": "unreadable"}))
        return out
