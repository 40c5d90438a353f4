"""Per-target locks: never two drills at once on one target, across processes.

``FileTargetLock`` (sim and any target without a cluster-side lock): an ``fcntl`` lock on a file
in the state directory, holding the holder's description. ``LeaseTargetLock`` (kube targets): a
coordination.k8s.io Lease through the client's ``LeaseLock`` (kubernetes.leaderelection), renewed
while held, released by clearing the holder. A held lock makes ``acquire`` wait up to ``wait``
seconds, then give up; the caller says so.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from runner.clock import Clock

log = logging.getLogger(__name__)


class TargetLock(Protocol):
    def acquire(self, wait: float) -> bool:
        """Take the lock, waiting up to ``wait`` seconds; False if someone else holds it."""
        ...

    def release(self) -> None:
        ...

    def holder(self) -> str | None:
        """Who holds it now (for messages), or None."""
        ...


def identity() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


class FileTargetLock:
    def __init__(self, path: Path, clock: Clock, poll: float = 1.0) -> None:
        self.path = path
        self.clock = clock
        self.poll = poll
        self._fd: int | None = None

    def acquire(self, wait: float) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = self.clock.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # a local file lock has no change notification: re-try at a coarse interval
                if self.clock.monotonic() >= deadline:
                    os.close(fd)
                    return False
                self.clock.sleep(min(self.poll, max(0.0, deadline - self.clock.monotonic())))
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"holder": identity(), "since": self.clock.wall(self.clock.monotonic()).isoformat()}).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> str | None:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return None
        return data.get("holder")


class LeaseTargetLock:
    """A Lease named ``release-drills-<target>`` in the runner's namespace."""

    def __init__(self, api_client: Any, name: str, namespace: str, clock: Clock, duration: int = 60) -> None:
        from kubernetes import client
        from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

        self.lock = LeaseLock(name, namespace, identity())
        # LeaseLock builds its API from the global default configuration; use ours instead
        self.lock.api_instance = client.CoordinationV1Api(api_client)
        self.name, self.namespace, self.clock, self.duration = name, namespace, clock, duration
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()

    def _record(self, holder: str) -> Any:
        from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord

        # LeaseLock takes the record's times as strings (it parses them: "%Y-%m-%d %H:%M:%S.%f%z")
        now = str(self.clock.wall(self.clock.monotonic()).astimezone(timezone.utc))
        return LeaderElectionRecord(holder, str(self.duration), now, now)

    def _try(self) -> bool:
        ok, rec = self.lock.get(self.name, self.namespace)
        if not ok:
            if getattr(rec, "status", None) == 404:
                return bool(self.lock.create(self.name, self.namespace, self._record(self.lock.identity)))
            raise RuntimeError(f"cannot read Lease {self.namespace}/{self.name}: {getattr(rec, 'reason', rec)}")
        holder = rec.holder_identity
        renew = rec.renew_time
        now = self.clock.wall(self.clock.monotonic())
        expired = renew is None or (now - _aware(renew)) > timedelta(seconds=int(rec.lease_duration or self.duration))
        if holder and holder != self.lock.identity and not expired:
            return False
        # replace with the read resourceVersion: a concurrent taker gets 409 and loses
        return bool(self.lock.update(self.name, self.namespace, self._record(self.lock.identity)))

    def acquire(self, wait: float) -> bool:
        deadline = self.clock.monotonic() + wait
        while not self._try():
            if self.clock.monotonic() >= deadline:
                return False
            self.clock.sleep(min(5.0, max(0.0, deadline - self.clock.monotonic())))
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="lease-renewer", daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.duration / 3):
            if not self.lock.update(self.name, self.namespace, self._record(self.lock.identity)):
                self.lock.get(self.name, self.namespace)  # refresh the reference; next renewal retries
                log.warning("renewing Lease %s/%s failed", self.namespace, self.name)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        ok, rec = self.lock.get(self.name, self.namespace)
        if ok and rec.holder_identity == self.lock.identity:
            self.lock.update(self.name, self.namespace, self._record(""))

    def holder(self) -> str | None:
        ok, rec = self.lock.get(self.name, self.namespace)
        return rec.holder_identity if ok else None


def _aware(value: datetime | str) -> datetime:
    """LeaseLock hands times back as local wall-clock strings without a zone."""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt if dt.tzinfo else dt.astimezone()
