"""The discrete-event core of the simulated cluster: an object store with resourceVersions and
generations, a time-ordered queue of things that will happen, and watch fan-out.

Everything happens on the ``VirtualClock``: ``step`` pops the next scheduled event, moves the
clock to it and runs it. Changes to objects are delivered to watchers after the configured
watch latency, stamped with the time they arrive, exactly as the real runner stamps watch
events. ``transitions`` is the simulator's ground truth (when things *really* happened), used
by tests to check the runner's measurements.
"""
from __future__ import annotations

import copy
import heapq
import itertools
import json
import queue
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from runner.clock import VirtualClock
from runner.targets.base import WatchScope
from runner.view import Obj, Observation

Key = tuple[str, str, str]
Listener = Callable[[str, Obj | None, Obj | None], None]  # type, before, after


@dataclass(frozen=True, slots=True)
class Transition:
    """Ground truth: something the simulated cluster did, at the exact virtual time."""

    at: float
    what: str
    subject: str
    detail: str = ""


def key_of(obj: Obj) -> Key:
    md = obj["metadata"]
    return (obj["kind"], md.get("namespace", ""), md["name"])


class SimWatch:
    """Observations for one scope, in arrival order.

    ``pace`` 0 runs the simulation as fast as it can; ``pace`` N lets N simulated seconds pass per
    real second, so people (``drills ack``, the facilitator's keys) can take part; their messages
    arrive through ``inject`` from other threads.
    """

    def __init__(self, kernel: Kernel, scope: WatchScope, pace: float = 0.0) -> None:
        self.kernel = kernel
        self.scope = scope
        self.pace = pace
        self.buffer: deque[Observation] = deque()
        self.external: queue.SimpleQueue[Observation] = queue.SimpleQueue()
        self.closed = False

    def wants(self, obj: Obj) -> bool:
        kind, ns, name = key_of(obj)
        if kind == "HumanEvent":
            return True
        if kind == "Application":
            return ns == self.scope.argocd_namespace and name == self.scope.application
        return ns == self.scope.namespace and kind in self.scope.kinds

    def push(self, obs: Observation) -> None:
        if not self.closed:
            self.buffer.append(obs)

    def inject(self, obs: Observation) -> None:
        self.external.put(obs)

    def _drain_external(self) -> None:
        while True:
            try:
                obs = self.external.get_nowait()
            except queue.Empty:
                return
            self.buffer.append(Observation(self.kernel.now(), obs.type, obs.kind, obs.obj))

    def next(self, deadline: float) -> Observation | None:
        while True:
            self._drain_external()
            if self.buffer:
                return self.buffer.popleft()
            if self.pace <= 0:
                if not self.kernel.step(deadline):
                    self.kernel.clock.advance_to(deadline)
                    self._drain_external()
                    return self.buffer.popleft() if self.buffer else None
                continue
            due = min(self.kernel.next_time(), deadline)
            start_real, start_virtual = time.monotonic(), self.kernel.now()
            try:
                obs = self.external.get(timeout=max(0.0, (due - start_virtual) / self.pace))
            except queue.Empty:
                if due >= deadline and self.kernel.next_time() > deadline:
                    self.kernel.clock.advance_to(deadline)
                    return None
                self.kernel.step(due)
                continue
            self.kernel.clock.advance_to(min(due, start_virtual + (time.monotonic() - start_real) * self.pace))
            self.buffer.append(Observation(self.kernel.now(), obs.type, obs.kind, obs.obj))

    def close(self) -> None:
        self.closed = True
        self.kernel.watchers.discard(self)


class Kernel:
    def __init__(self, clock: VirtualClock, seed: int, watch_latency: float, record_history: bool = False) -> None:
        self.clock = clock
        self.history: list[tuple[float, str, Obj]] | None = [] if record_history else None
        """With ``record_history``: every change (time, type, object) as the store saw it, for tests."""
        self.rng = random.Random(seed)
        self.watch_latency = watch_latency
        self.store: dict[Key, Obj] = {}
        self.listeners: list[Listener] = []
        self.watchers: set[SimWatch] = set()
        self.transitions: list[Transition] = []
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._rv = itertools.count(1000)
        self._uid = itertools.count(1)
        self._pending: dict[str, float] = {}

    # --- time -------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.monotonic()

    def api_time(self) -> str:
        """metav1.Time: RFC 3339 with whole seconds, as the API serialises it."""
        return self.clock.wall(self.now()).strftime("%Y-%m-%dT%H:%M:%SZ")

    def micro_time(self) -> str:
        """metav1.MicroTime: six fractional digits."""
        return self.clock.wall(self.now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def schedule(self, delay: float, fn: Callable[[], None], once: str | None = None) -> None:
        """Run ``fn`` after ``delay`` seconds.

        With ``once``, calls under one name coalesce: a call is dropped when one with that name is
        already due no later than it (a later one still runs, e.g. a progress-deadline check).
        """
        due = self.now() + max(0.0, delay)
        if once is not None:
            if once in self._pending and self._pending[once] <= due:
                return
            self._pending[once] = due
            inner = fn

            def fn() -> None:
                if self._pending.get(once) == due:
                    del self._pending[once]
                inner()

        heapq.heappush(self._queue, (due, next(self._seq), fn))

    def next_time(self) -> float:
        """When the next scheduled event is due (infinity when nothing is scheduled)."""
        return self._queue[0][0] if self._queue else float("inf")

    def step(self, deadline: float) -> bool:
        """Run the next event if it is due by ``deadline``; False when there is none."""
        if not self._queue or self._queue[0][0] > deadline:
            return False
        at, _, fn = heapq.heappop(self._queue)
        self.clock.advance_to(at)
        fn()
        return True

    def run_until(self, deadline: float) -> None:
        while self.step(deadline):
            pass
        self.clock.advance_to(deadline)

    def truth(self, what: str, subject: str, detail: str = "") -> None:
        self.transitions.append(Transition(self.now(), what, subject, detail))

    # --- objects ----------------------------------------------------------------------------

    def get(self, kind: str, ns: str, name: str) -> Obj | None:
        obj = self.store.get((kind, ns, name))
        return copy.deepcopy(obj) if obj is not None else None

    def peek(self, kind: str, ns: str, name: str) -> Obj | None:
        """The stored object itself (no copy): for controllers that only read."""
        return self.store.get((kind, ns, name))

    def list(self, kind: str, ns: str | None = None) -> list[Obj]:
        return [o for (k, n, _), o in self.store.items() if k == kind and (ns is None or n == ns)]

    def create(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        key = key_of(obj)
        if key in self.store:
            from runner.errors import ResourceConflict

            raise ResourceConflict(f"{key[0]} {key[1]}/{key[2]} already exists")
        md["uid"] = f"00000000-0000-4000-8000-{next(self._uid):012d}"
        md["creationTimestamp"] = self.api_time()
        md["generation"] = 1
        md["resourceVersion"] = str(next(self._rv))
        self.store[key] = obj
        self._changed("ADDED", None, obj)
        return copy.deepcopy(obj)

    def update(self, obj: Obj) -> Obj:
        """Replace an object; bumps resourceVersion, and generation when ``spec`` changed."""
        obj = copy.deepcopy(obj)
        key = key_of(obj)
        before = self.store.get(key)
        if before is None:
            from runner.errors import ResourceNotFound

            raise ResourceNotFound(*key)
        if _canon(before) == _canon(obj):
            return copy.deepcopy(before)
        md = obj["metadata"]
        if _canon(before.get("spec")) != _canon(obj.get("spec")) or _canon(before.get("operation")) != _canon(obj.get("operation")):
            md["generation"] = before["metadata"].get("generation", 1) + 1
        md["resourceVersion"] = str(next(self._rv))
        self.store[key] = obj
        self._changed("MODIFIED", before, obj)
        return copy.deepcopy(obj)

    def delete(self, kind: str, ns: str, name: str) -> Obj | None:
        before = self.store.pop((kind, ns, name), None)
        if before is not None:
            self._changed("DELETED", before, None)
        return before

    def _changed(self, etype: str, before: Obj | None, after: Obj | None) -> None:
        obj = after if after is not None else before
        assert obj is not None
        if self.history is not None:
            self.history.append((self.now(), etype, copy.deepcopy(obj)))
        for listener in list(self.listeners):
            listener(etype, before, after)
        if self.watchers:
            snapshot = copy.deepcopy(obj)
            for w in list(self.watchers):
                if w.wants(snapshot):
                    self.schedule(self.watch_latency, _deliver(self, w, etype, snapshot))

    def watch(self, scope: WatchScope, pace: float = 0.0) -> SimWatch:
        w = SimWatch(self, scope, pace)
        for obj in self.store.values():
            if w.wants(obj):
                w.push(Observation(self.now(), "ADDED", obj["kind"], copy.deepcopy(obj)))
        self.watchers.add(w)
        return w


def _deliver(kernel: Kernel, w: SimWatch, etype: str, obj: Obj) -> Callable[[], None]:
    def run() -> None:
        w.push(Observation(kernel.now(), etype, obj["kind"], obj))

    return run


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)
