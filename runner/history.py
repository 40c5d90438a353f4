"""A local run history: one SQLite file, one row per drill run, appended to by every run.

What it does: stores the summary columns that trends, SOPs and ``drills history`` read (drill,
target, fault, rollback strategy, outcome, TTD/TTR, expectations, restore status, times) next to
the full ``results.json`` entry of the drill, so later reports can use fields nobody indexed yet.

What it does not do: it never reads a clock (callers pass ``run_started_at``), never deletes or
rewrites rows, and knows nothing of how the numbers are analysed (``runner.trends``,
``runner.sop``).

Concurrency: the nightly daemon and a person's ``drills run`` may append to the same file at
once. The file is in WAL mode (readers never block the writer), every write is one
``BEGIN IMMEDIATE`` transaction, and a writer waits up to ``busy_timeout`` seconds for the lock
instead of failing. The schema is versioned with ``PRAGMA user_version``; first-time setup (the
switch to WAL, creating or migrating the schema) runs under an exclusive lock on a ``.lock`` file
next to the database, so two processes opening a new file at once do not race.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator, Mapping

from runner.clock import utc_iso
from runner.errors import DrillsError, UsageError

SCHEMA_VERSION = 1
"""The ``user_version`` this module writes. Files with a higher version are refused, not guessed at."""

ENV_VAR = "DRILLS_HISTORY"
"""Environment variable naming the history file; ``default_path`` falls back to ``reports/history.sqlite``."""

_MIGRATIONS: dict[int, str] = {
    # version -> the SQL that brings a file from version-1 to version. Append, never edit.
    1: """
        CREATE TABLE IF NOT EXISTS drill_runs (
            id                 INTEGER PRIMARY KEY AUTOINCREMENT,
            run_started_at     TEXT NOT NULL,   -- ISO 8601 UTC, '2026-01-05T09:00:00.000Z'
            drill              TEXT NOT NULL,
            target             TEXT NOT NULL,
            suite              TEXT,
            source             TEXT NOT NULL,   -- who ran it: 'run', 'daemon', ...
            run_id             TEXT,
            fault_type         TEXT,
            fault_via          TEXT,
            rollback_strategy  TEXT,
            outcome            TEXT NOT NULL,
            ttd_seconds        REAL,
            ttr_seconds        REAL,
            rollback_seconds   REAL,
            expectations_met   INTEGER NOT NULL,
            restore_status     TEXT,
            injected_at        TEXT,
            detected_at        TEXT,
            recovered_at       TEXT,
            detected_by        TEXT,
            application        TEXT,
            release            TEXT,
            namespace          TEXT,
            simulated          INTEGER NOT NULL,
            drill_json         TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS drill_runs_by_drill ON drill_runs (drill, run_started_at);
        CREATE INDEX IF NOT EXISTS drill_runs_by_time ON drill_runs (run_started_at);
        CREATE INDEX IF NOT EXISTS drill_runs_by_app ON drill_runs (application, run_started_at);
    """,
}

_COLUMNS = ("run_started_at", "drill", "target", "suite", "source", "run_id", "fault_type", "fault_via",
            "rollback_strategy", "outcome", "ttd_seconds", "ttr_seconds", "rollback_seconds",
            "expectations_met", "restore_status", "injected_at", "detected_at", "recovered_at", "detected_by",
            "application", "release", "namespace", "simulated", "drill_json")


def default_path() -> Path:
    """Where the history lives: ``$DRILLS_HISTORY`` if set, else ``reports/history.sqlite`` (relative
    to the current directory, like the ``reports/`` folder ``drills run`` writes)."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path("reports") / "history.sqlite"


def expectations_met(drill: Mapping[str, Any]) -> bool:
    """Whether a drill result met its expectations.

    Every declared expectation met; a drill that declares none counts as met only if it passed
    (so an aborted run without expectations is not reported as "met").
    """
    exps = drill.get("expectations") or []
    if exps:
        return all(bool(e.get("met")) for e in exps)
    return drill.get("outcome") == "passed"


def parse_time(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime or an ISO 8601 string (``Z`` accepted).

    Raises:
        ValueError: the string is not ISO 8601, or the time has no timezone (ambiguous).
    """
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        raise ValueError(f"time {value!r} has no timezone; pass an aware datetime or an ISO string "
                         "ending in Z")
    return dt.astimezone(timezone.utc)


def _iso(value: datetime | str) -> str:
    text = utc_iso(parse_time(value))
    assert text is not None
    return text


def _opt_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


@dataclass(frozen=True)
class HistoryRow:
    """One recorded drill run. Times are aware UTC datetimes; seconds are floats or None."""

    id: int
    run_started_at: datetime
    drill: str
    target: str
    suite: str | None
    source: str
    run_id: str | None
    fault_type: str | None
    fault_via: str | None
    rollback_strategy: str | None
    outcome: str
    ttd_seconds: float | None
    ttr_seconds: float | None
    rollback_seconds: float | None
    expectations_met: bool
    restore_status: str | None
    injected_at: datetime | None
    detected_at: datetime | None
    recovered_at: datetime | None
    detected_by: str | None
    application: str | None
    release: str | None
    namespace: str | None
    simulated: bool
    data: Mapping[str, Any] = field(compare=False, repr=False)
    """The drill's full ``results.json`` entry as recorded."""

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def rollback_commands(self) -> list[str]:
        """The commands the rollback ran (as a person would type them); empty when none were needed."""
        rb = self.data.get("rollback") or {}
        return list(rb.get("commands") or [])


class History:
    """The run history in one SQLite file; created (with its folder) on first use.

    Args:
        path: the SQLite file.
        busy_timeout: seconds a writer waits for another process's write to finish.

    Raises:
        UsageError: the file is not a release-drills history, or was written by a newer version.
        DrillsError: SQLite failed otherwise (locked longer than ``busy_timeout``, read-only, disk full);
            ``record`` and ``query`` raise it too.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE takes the write
        # lock up front, so two appenders queue on busy_timeout instead of deadlocking on upgrade).
        # check_same_thread=False + a lock: the daemon may record from a scheduler thread.
        with _mapped(self.path):
            self._db = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False)
        self._lock = threading.Lock()
        try:
            # Switching to WAL needs the file to itself and SQLite does not wait for that (it
            # answers "database is locked" at once), so first-time setup is serialised across
            # processes with a lock file; after that the file is in WAL and no opener switches.
            with _mapped(self.path), _setup_lock(self.path):
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process may have migrated meanwhile
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UsageError(f"{self.path}: history schema version {version} is newer than this "
                                 f"release-drills understands ({SCHEMA_VERSION}); upgrade release-drills")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[v].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {v}")
            self._db.execute("COMMIT")
        except BaseException:
            # any failure (including Ctrl-C) leaves the file at its old version
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # --- writing -----------------------------------------------------------------------------

    def record(self, drill: Mapping[str, Any], *, run_started_at: datetime | str, target: str,
               suite: str | None = None, source: str = "run") -> None:
        """Append one drill result.

        Args:
            drill: one entry of ``results.json``'s ``drills`` (``runner.results.drill_json``).
            run_started_at: when the run (the suite or single invocation) started; aware datetime or ISO 8601.
            target: the target's name (``sim``, or a name from the targets file).
            suite: the suite's name when the drill ran as part of one.
            source: who ran it, e.g. ``run`` (the CLI) or ``daemon`` (the scheduler).

        Raises:
            ValueError: ``run_started_at`` has no timezone or is not ISO 8601.
        """
        self._insert([self._values(drill, run_started_at, target, suite, source)])

    def record_results(self, results: Mapping[str, Any], *, suite: str | None = None,
                       source: str = "run") -> int:
        """Append every drill of a ``results.json`` document in one transaction.

        ``run_started_at`` is the document's ``started_at``, ``target`` its ``target.name``.

        Returns:
            The number of drills recorded.
        """
        rows = [self._values(d, results["started_at"], results["target"]["name"], suite, source)
                for d in results.get("drills", [])]
        self._insert(rows)
        return len(rows)

    @staticmethod
    def _values(d: Mapping[str, Any], started: datetime | str, target: str, suite: str | None,
                source: str) -> tuple[Any, ...]:
        tgt = d.get("target") or {}
        fault = d.get("fault") or {}
        rb = d.get("rollback") or {}
        restore = d.get("restore") or {}
        return (
            _iso(started), d["name"], target, suite, source, d.get("run_id"),
            fault.get("type"), fault.get("via"), rb.get("strategy"), d["outcome"],
            d.get("ttd_seconds"), d.get("ttr_seconds"), rb.get("duration_seconds"),
            int(expectations_met(d)), restore.get("status"),
            d.get("injected_at"), d.get("detected_at"), d.get("recovered_at"), d.get("detected_by"),
            tgt.get("application"), tgt.get("release"), tgt.get("namespace"), int(bool(tgt.get("simulated"))),
            json.dumps(d, ensure_ascii=False, sort_keys=True),
        )

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        sql = f"INSERT INTO drill_runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        with self._lock, _mapped(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                # a half-written batch must not stay: a rerun would record it twice
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # --- reading -----------------------------------------------------------------------------

    def query(self, *, drill: str | None = None, target: str | None = None, since: datetime | None = None,
              application: str | None = None) -> list[HistoryRow]:
        """Recorded runs, oldest first (by ``run_started_at``, then insertion order).

        Args:
            drill: only this drill.
            target: only this target name.
            since: only runs that started at or after this aware datetime.
            application: only runs against this Argo CD Application; for drills on a plain Helm
                release (no application), the release name matches too.
        """
        where: list[str] = []
        params: list[Any] = []
        if drill is not None:
            where.append("drill = ?")
            params.append(drill)
        if target is not None:
            where.append("target = ?")
            params.append(target)
        if since is not None:
            # the stored format is fixed-width UTC, so string order is time order
            where.append("run_started_at >= ?")
            params.append(_iso(since))
        if application is not None:
            where.append("(application = ? OR (application IS NULL AND release = ?))")
            params += [application, application]
        sql = f"SELECT id, {', '.join(_COLUMNS)} FROM drill_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY run_started_at, id"
        with self._lock, _mapped(self.path):
            cursor = self._db.execute(sql, params)
            names = [c[0] for c in cursor.description]
            raw = cursor.fetchall()
        return [_row(dict(zip(names, r, strict=True))) for r in raw]

    def close(self) -> None:
        """Close the connection; the file stays."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@contextlib.contextmanager
def _mapped(path: Path) -> Iterator[None]:
    """Translate sqlite3 errors into the runner's: the one place this module does so."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            # a wrong --history path pointing at some other file
            raise UsageError(f"{path}: not a release-drills history file ({exc})") from exc
        # locked for longer than busy_timeout, disk full, read-only file system, corruption
        raise DrillsError(f"run history {path}: {exc}") from exc


@contextlib.contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (flock: released by the OS if the process dies).

    A separate file on purpose: closing any descriptor of the database file itself would drop
    the POSIX locks SQLite holds on it. Where ``fcntl`` does not exist (Windows) setup is not
    serialised; the first opener still switches to WAL and a racing one fails loudly.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _row(r: dict[str, Any]) -> HistoryRow:
    return HistoryRow(
        id=r["id"], run_started_at=parse_time(r["run_started_at"]), drill=r["drill"], target=r["target"],
        suite=r["suite"], source=r["source"], run_id=r["run_id"], fault_type=r["fault_type"],
        fault_via=r["fault_via"], rollback_strategy=r["rollback_strategy"], outcome=r["outcome"],
        ttd_seconds=r["ttd_seconds"], ttr_seconds=r["ttr_seconds"], rollback_seconds=r["rollback_seconds"],
        expectations_met=bool(r["expectations_met"]), restore_status=r["restore_status"],
        injected_at=_opt_time(r["injected_at"]), detected_at=_opt_time(r["detected_at"]),
        recovered_at=_opt_time(r["recovered_at"]), detected_by=r["detected_by"], application=r["application"],
        release=r["release"], namespace=r["namespace"], simulated=bool(r["simulated"]),
        data=json.loads(r["drill_json"]),
    )
