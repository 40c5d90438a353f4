"""The reporting commands of the ``drills`` CLI: ``history``, ``trends`` and ``sop``.

What it does: ``add_subcommands(subparsers)`` adds the three sub-parsers; ``COMMANDS`` maps their
names to ``cmd_*(args, out, err, clock=None) -> exit code`` functions, the same shape as the
commands in ``runner.cli``. They read the run history (``runner.history``), hand rows to the pure
``runner.trends`` / ``runner.sop`` and print or write the result.

What it does not do: parse ``sys.argv``, build consoles or map exceptions to exit codes — the
main CLI does that (a ``UsageError`` raised here becomes exit 2 there).

Exit codes: 0 done; 1 only from ``trends --fail-on-regression`` when a regression is flagged
(a nightly job opts in to failing on it; by default the report is written and the job passes);
2 bad usage (unknown ``--since``, no history file, no runs for the application).
"""
from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner import history as history_mod, sop as sop_mod, trends as trends_mod
from runner.clock import Clock, SystemClock
from runner.durations import human_seconds
from runner.errors import UsageError
from runner.render import markdown

EXIT_OK, EXIT_REGRESSION = 0, 1

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_DURATION_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[dhms])+$")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}

Command = Callable[..., int]


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from ``now`` (``7d``, ``24h``, ``30m``, ``90s``, ``1d12h``) or an
    ISO 8601 date/time (``2026-01-05``, ``2026-01-05T09:00Z``); a time without zone is UTC.

    Raises:
        UsageError: neither form.
    """
    s = text.strip()
    if _DURATION_WHOLE.match(s):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(s))
        return now - timedelta(seconds=seconds)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a duration such as 7d, 24h, 30m, 90s "
                         "or an ISO date such as 2026-01-05") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _now(clock: Clock | None) -> datetime:
    c = clock or SystemClock()
    return c.wall(c.monotonic())


def _open(args: argparse.Namespace) -> history_mod.History:
    path = Path(getattr(args, "history", None) or history_mod.default_path())
    if not path.is_file():
        raise UsageError(f"no run history at {path}: runs are recorded there by 'drills run' "
                         f"(or point --history / ${history_mod.ENV_VAR} at the file)")
    return history_mod.History(path)


def _lang(args: argparse.Namespace) -> str:
    lang = str(getattr(args, "lang", None) or "en")
    if lang not in markdown.LANGS:
        raise UsageError(f"--lang {lang}: expected one of {', '.join(markdown.LANGS)}")
    return lang


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def cmd_history(args: argparse.Namespace, out: Console, err: Console, clock: Clock | None = None) -> int:
    """``drills history [--drill D] [--since 7d] [--target T] [--history PATH]``: recorded runs as a table."""
    now = _now(clock)
    since = parse_since(args.since, now) if getattr(args, "since", None) else None
    with _open(args) as h:
        rows = h.query(drill=getattr(args, "drill", None), target=getattr(args, "target", None), since=since)
    if not rows:
        out.print(f"no recorded runs match in {h.path}", markup=False, highlight=False)
        return EXIT_OK
    t = Table(title=f"run history ({h.path})", caption=f"{len(rows)} run(s)")
    for col in ("started (UTC)", "drill", "target", "suite", "fault", "rollback", "outcome", "TTD", "TTR",
                "expectations", "restore"):
        t.add_column(col, justify="right" if col in ("TTD", "TTR") else "left")
    for r in rows:
        t.add_row(*(Text(str(c)) for c in (
            r.run_started_at.strftime("%Y-%m-%d %H:%M:%S"), r.drill, r.target, r.suite or "—",
            f"{r.fault_type} via {r.fault_via}", r.rollback_strategy or "—", r.outcome,
            human_seconds(r.ttd_seconds), human_seconds(r.ttr_seconds),
            "met" if r.expectations_met else "missed", r.restore_status or "—")))
    out.print(t)
    return EXIT_OK


def cmd_trends(args: argparse.Namespace, out: Console, err: Console, clock: Clock | None = None) -> int:
    """``drills trends [--history PATH] [--output reports/trends.md] [--lang en|zh] [--fail-on-regression]``.

    Returns:
        0, or 1 when ``--fail-on-regression`` is given and a regression is flagged.
    """
    now = _now(clock)
    lang = _lang(args)
    with _open(args) as h:
        rows = h.query()
    output = Path(getattr(args, "output", None) or Path("reports") / "trends.md")
    _write(output, trends_mod.trends_markdown(rows, now, lang))
    regs = trends_mod.regressions(rows)
    drills = len({(r.drill, r.target) for r in rows})
    out.print(f"wrote {output}: {len(rows)} run(s) of {drills} drill(s), {len(regs)} regression(s)",
              markup=False, highlight=False)
    for r in regs:
        if r.metric is trends_mod.Metric.PASS_RATE:
            what = f"pass rate {r.recent:.0%} (last {r.recent_runs}) vs {r.baseline:.0%}"
        else:
            what = (f"{r.metric.value.upper()} p50 {human_seconds(r.recent)} (last {r.recent_runs}) "
                    f"vs {human_seconds(r.baseline)}")
        out.print(f"  regression: {r.drill} on {r.target}: {what} (previous {r.baseline_runs})",
                  markup=False, highlight=False)
    return EXIT_REGRESSION if regs and getattr(args, "fail_on_regression", False) else EXIT_OK


def cmd_sop(args: argparse.Namespace, out: Console, err: Console, clock: Clock | None = None) -> int:
    """``drills sop APP [--history PATH] [--output reports/sop-APP.md] [--lang en|zh]``.

    Raises:
        UsageError: no run recorded for ``APP`` (the message lists the applications that have runs).
    """
    from runner.render.writer import safe_name

    now = _now(clock)
    lang = _lang(args)
    app = str(args.app)
    with _open(args) as h:
        rows = h.query(application=app)
        if not rows:
            known = sorted({r.application or r.release or "" for r in h.query()} - {""})
            hint = f"; runs exist for: {', '.join(known)}" if known else "; the history is empty"
            raise UsageError(f"no recorded runs for application {app!r}{hint}")
    output = Path(getattr(args, "output", None) or Path("reports") / f"sop-{safe_name(app)}.md")
    _write(output, sop_mod.sop_markdown(app, rows, now=now, lang=lang))
    modes = sop_mod.failure_modes(app, rows)
    unverified = [f"{m.fault_type} via {m.via}" for m in modes if m.best is None]
    out.print(f"wrote {output}: {len(modes)} failure mode(s) from {len(rows)} run(s)"
              + (f"; no verified rollback for: {', '.join(unverified)}" if unverified else ""),
              markup=False, highlight=False)
    return EXIT_OK


COMMANDS: dict[str, Command] = {"history": cmd_history, "trends": cmd_trends, "sop": cmd_sop}


def add_subcommands(subparsers: Any) -> None:
    """Add ``history``, ``trends`` and ``sop`` to an ``argparse`` subparsers object
    (``parser.add_subparsers(dest="command")``)."""
    hist_help = f"the run history file (default: ${history_mod.ENV_VAR} or reports/history.sqlite)"
    h = subparsers.add_parser("history", help="list recorded drill runs")
    h.add_argument("--drill", help="only this drill")
    h.add_argument("--since", help="only runs since: a duration back from now (7d, 24h, 30m, 90s) "
                                    "or an ISO date")
    h.add_argument("--target", help="only runs on this target (sim, or a name from the targets file)")
    h.add_argument("--history", type=Path, help=hist_help)
    t = subparsers.add_parser("trends", help="write the trends report (TTD/TTR over time, regressions)")
    t.add_argument("--history", type=Path, help=hist_help)
    t.add_argument("--output", type=Path, default=Path("reports/trends.md"),
                   help="default: reports/trends.md")
    t.add_argument("--lang", choices=markdown.LANGS, default="en", help="language of the report")
    t.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a regression is flagged")
    s = subparsers.add_parser("sop", help="write an application's rollback SOP from its drill history")
    s.add_argument("app", metavar="APPLICATION", help="Argo CD Application (or plain Helm release) name")
    s.add_argument("--history", type=Path, help=hist_help)
    s.add_argument("--output", type=Path, help="default: reports/sop-APPLICATION.md")
    s.add_argument("--lang", choices=markdown.LANGS, default="en", help="language of the SOP")
