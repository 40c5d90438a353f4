"""``drills schedule``: suites on cron or interval, unattended, one drill at a time per target.

Built on APScheduler 3 (the only importer of ``apscheduler.schedulers``): its job model, triggers,
events and the persistent SQLAlchemy job store on SQLite, so a restart neither loses nor
duplicates runs. APScheduler 3 reads ``datetime.now()`` inside its scheduler loop and executor,
which no test can control; ``ClockScheduler`` and ``ClockExecutor`` override exactly those two
places to take the injected clock, and run jobs synchronously in the scheduler's thread (one
suite at a time, deliberately).

Choices, deliberately:
* ``coalesce=True``: after downtime a suite that missed several fire times runs once, not N times.
* ``misfire_grace_time`` (default 1 h): a run late by less than that still happens (a nightly
  drill after a short outage); a run later than that is skipped and logged as missed; the next
  fire time is computed as usual.
* ``max_instances=1``: a suite never overlaps itself; targets are also locked across processes.
"""
from __future__ import annotations

import logging
import threading
from threading import TIMEOUT_MAX
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from apscheduler.events import (EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobExecutionEvent,
                               JobSubmissionEvent)
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED, BaseScheduler

from runner import loader, schedule
from runner.clock import Clock
from runner.engine import DrillRun, Engine
from runner.errors import DrillAborted
from runner.kinds import Outcome
from runner.loader import Document
from runner.locks import TargetLock
from runner.observers import DrillObserver

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600


class ClockExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs due jobs in the scheduler's thread; misfires judged by the injected clock."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        super().__init__()
        self._now = now

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        events = []
        for run_time in run_times:
            late = self._now() - run_time
            if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                log.warning("suite %s: the run due at %s was missed by %s (over the %s s grace); skipped",
                            job.id, run_time.isoformat(), late, job.misfire_grace_time)
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                continue
            try:
                retval = job.func(*job.args, **job.kwargs)
            except (KeyboardInterrupt, SystemExit, DrillAborted):
                self._run_job_success(job.id, events)  # a stop request ends the daemon, not just this job
                raise
            except Exception as exc:  # a broken suite must not stop the schedule; logged with traceback
                log.exception("suite %s failed", job.id)
                events.append(JobExecutionEvent(EVENT_JOB_ERROR, job.id, job._jobstore_alias, run_time, exception=exc,
                                                traceback=None))
            else:
                events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time, retval=retval))
        self._run_job_success(job.id, events)


class ClockScheduler(BaseScheduler):  # type: ignore[misc]
    """APScheduler's BaseScheduler on an injected clock; ``tick`` processes due jobs once."""

    def __init__(self, clock: Clock, **options: Any) -> None:
        self._clock = clock
        self._event = threading.Event()
        super().__init__(**options)

    def now(self) -> datetime:
        return self._clock.wall(self._clock.monotonic()).astimezone(self.timezone)

    def _create_default_executor(self) -> BaseExecutor:
        return ClockExecutor(self.now)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self._event.set()

    def wakeup(self) -> None:
        self._event.set()

    def tick(self) -> float | None:
        """Run what is due now; returns seconds until the next fire time (None: nothing scheduled)."""
        return self._process_jobs()  # type: ignore[no-any-return]

    def run_forever(self, stopping: threading.Event) -> None:
        while self.state != STATE_STOPPED and not stopping.is_set():
            wait = self.tick()
            # the event waits in real seconds; a sped-up clock (ScaledClock) runs `factor` times faster
            real = (wait if wait is not None else TIMEOUT_MAX) / float(getattr(self._clock, "factor", 1.0))
            self._event.wait(min(real, 300.0))
            self._event.clear()

    def _process_jobs(self) -> float | None:
        # APScheduler 3.11's BaseScheduler._process_jobs with the clock injected (it calls datetime.now)
        if self.state == STATE_PAUSED:
            return None
        now = self.now()
        next_wakeup: datetime | None = None
        events = []
        with self._jobstores_lock:
            for alias, store in self._jobstores.items():
                for job in store.get_due_jobs(now):
                    executor = self._lookup_executor(job.executor)
                    run_times = job._get_run_times(now)
                    run_times = run_times[-1:] if run_times and job.coalesce else run_times
                    if run_times:
                        # the next fire time is stored before running, so a crash mid-run never repeats it
                        nxt = job.trigger.get_next_fire_time(run_times[-1], now)
                        if nxt:
                            job._modify(next_run_time=nxt)
                            store.update_job(job)
                        else:
                            self.remove_job(job.id, alias)
                        events.append(JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, alias, run_times))
                        executor.submit_job(job, run_times)
                nrt = store.get_next_run_time()
                if nrt and (next_wakeup is None or nrt < next_wakeup):
                    next_wakeup = nrt.astimezone(self.timezone)
        for ev in events:
            self._dispatch_event(ev)
        if next_wakeup is None:
            return None
        return float(min(max(next_wakeup.timestamp() - self.now().timestamp(), 0.0), TIMEOUT_MAX))


@dataclass
class SuiteRun:
    """One scheduled execution of a suite."""

    suite: str
    target: str
    scheduled_at: datetime
    started_at: datetime
    runs: list[DrillRun] = field(default_factory=list)
    skipped: str | None = None


_CURRENT: Daemon | None = None


def run_suite_job(name: str, schedule: str = "") -> None:
    """The job function stored in the job store (a module-level name, so it pickles)."""
    if _CURRENT is None:
        raise RuntimeError("no daemon running")
    _CURRENT.run_suite(name)


class Daemon:
    """Schedules suites and runs them.

    Args:
        suites: loaded suite documents (with a ``schedule``).
        clock: decides when suites run (the drills inside use their target's clock).
        make_target: target name -> a fresh Target.
        make_lock: target name -> TargetLock.
        store_url: SQLAlchemy URL of the job store, e.g. ``sqlite:///reports/schedule.sqlite``.
        on_run: called with every finished drill run (history, metrics, reports, notifications).
        on_suite: called with every finished suite run.
        target_override: run every suite on this target instead of its own.
        lock_wait: seconds to wait for a target held by someone else before skipping.
        observers: extra observers for each engine (console, cluster events).
    """

    def __init__(self, suites: Sequence[Document], clock: Clock, make_target: Callable[[str], Any],
                 make_lock: Callable[[str], TargetLock], store_url: str, *,
                 on_run: Sequence[Callable[[SuiteRun, DrillRun], None]] = (),
                 on_suite: Sequence[Callable[[SuiteRun], None]] = (), target_override: str | None = None,
                 lock_wait: float = 600.0, misfire_grace: int = MISFIRE_GRACE_SECONDS,
                 observers: Sequence[DrillObserver] = (), engine_factory: Callable[..., Engine] | None = None) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        self.suites = {d.model.metadata.name: d for d in suites}
        self.clock = clock
        self.make_target, self.make_lock = make_target, make_lock
        self.on_run, self.on_suite = list(on_run), list(on_suite)
        self.target_override = target_override
        self.lock_wait = lock_wait
        self.observers = list(observers)
        self.engine_factory = engine_factory or Engine
        self.stopping = threading.Event()
        self.running = False
        self.history: list[SuiteRun] = []
        self.scheduler = ClockScheduler(clock, timezone="UTC",
                                        job_defaults={"coalesce": True, "misfire_grace_time": misfire_grace, "max_instances": 1})
        self.scheduler.add_jobstore(SQLAlchemyJobStore(url=store_url), "default")

    # --- jobs -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler and bring the job store in line with the suites (keeping fire times)."""
        global _CURRENT
        _CURRENT = self
        self.scheduler.start(paused=True)
        now = self.scheduler.now()
        for name, doc in self.suites.items():
            spec = doc.model.spec.schedule
            if spec is None:
                continue
            fp = schedule.fingerprint(spec)
            job = self.scheduler.get_job(name)
            if job is not None and job.kwargs.get("schedule") == fp:
                continue  # unchanged: keep the stored next fire time (a restart must not skip or repeat)
            if job is not None:
                self.scheduler.remove_job(name)
            trig = schedule.trigger(spec, now)
            self.scheduler.add_job(run_suite_job, trig, args=[name], kwargs={"schedule": fp}, id=name, name=name,
                                   next_run_time=trig.get_next_fire_time(None, now))
        for job in self.scheduler.get_jobs():
            if job.id not in self.suites:
                log.info("suite %s is no longer scheduled; removing its job", job.id)
                self.scheduler.remove_job(job.id)
        self.scheduler.resume()

    def next_fire_times(self) -> list[tuple[str, datetime | None]]:
        return sorted(((j.id, j.next_run_time) for j in self.scheduler.get_jobs()), key=lambda x: (x[1] is None, x[1] or datetime.max))

    def tick(self) -> float | None:
        return self.scheduler.tick()

    def run_forever(self) -> None:
        self.scheduler.run_forever(self.stopping)

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.wakeup()

    def shutdown(self) -> None:
        global _CURRENT
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.shutdown(wait=False)
        _CURRENT = None

    # --- running a suite ----------------------------------------------------------------------

    def run_suite(self, name: str, *, ignore_window: bool = False) -> SuiteRun:
        """Run one suite now (the scheduler's job; ``ignore_window`` for an operator's explicit run)."""
        doc = self.suites[name]
        suite = doc.model
        now = self.scheduler.now()
        target_name = self.target_override or suite.spec.target or "sim"
        sr = SuiteRun(suite=name, target=target_name, scheduled_at=now, started_at=now)
        try:
            if not ignore_window and not schedule.in_window(suite.spec.window, now):
                sr.skipped = f"outside the window {suite.spec.window.start}-{suite.spec.window.end} {suite.spec.window.timezone}"  # type: ignore[union-attr]
                log.info("suite %s: %s; not run", name, sr.skipped)
                return sr
            drills, result = loader.suite_drills(doc)
            if result.problems:
                sr.skipped = "; ".join(map(str, result.problems))
                log.error("suite %s: %s", name, sr.skipped)
                return sr
            lock = self.make_lock(target_name)
            if not lock.acquire(self.lock_wait):
                sr.skipped = f"target {target_name} is locked by {lock.holder() or 'another runner'}; waited {self.lock_wait:g} s"
                log.warning("suite %s: %s; skipped", name, sr.skipped)
                return sr
            try:
                self._run_drills(sr, drills, suite.spec.on_failure)
            finally:
                lock.release()
            return sr
        finally:
            self.history.append(sr)
            for cb in self.on_suite:
                cb(sr)

    def _run_drills(self, sr: SuiteRun, drills: list[Document], on_failure: str) -> None:
        target = self.make_target(sr.target)
        try:
            extra = list(getattr(target, "drill_observers", lambda: [])())
            engine = self.engine_factory(target, self.observers + extra)
            for doc in drills:
                if self.stopping.is_set():
                    log.info("stopping: %s not started", doc.model.metadata.name)
                    break
                self.running = True
                try:
                    run = engine.run(doc.model, doc.where)
                finally:
                    self.running = False
                sr.runs.append(run)
                for cb in self.on_run:
                    cb(sr, run)
                if run.verdict and run.verdict.outcome is not Outcome.PASSED and on_failure == "stop":
                    log.warning("suite %s: %s %s; on-failure is stop", sr.suite, doc.model.metadata.name, run.verdict.outcome.value)
                    break
                if run.verdict and run.verdict.outcome is Outcome.ABORTED and self.stopping.is_set():
                    break
        finally:
            target.close()


def list_schedule(daemon: Daemon) -> list[str]:
    lines = []
    for name, when in daemon.next_fire_times():
        lines.append(f"{name}: next run {when.isoformat() if when else 'never'}")
    return lines
