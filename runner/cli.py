"""The ``drills`` command line. ``main(argv) -> exit code``; the only place that maps errors to
exit codes and builds the console.

Exit codes: 0 every drill passed; 1 any did not; 2 bad input or usage; 3 a target was left
needing manual repair (the output says exactly what to run).
"""
from __future__ import annotations

import argparse
import json
import os
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from runner import loader, model, reporting_cli
from runner.clock import SystemClock, VirtualClock
from runner.durations import parse_duration
from runner.errors import DrillAborted, DrillDefinitionError, DrillsError, UsageError

log = logging.getLogger("runner")

EXIT_OK, EXIT_NOT_PASSED, EXIT_BAD_INPUT, EXIT_MANUAL_REPAIR = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="drills", description="Rehearse release failures on Kubernetes (Helm + Argo CD) and measure "
                                            "how fast they are detected and rolled back.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run drills (files, folders or suite files)")
    run.add_argument("paths", nargs="+", metavar="PATH")
    run.add_argument("--target", default="sim",
                     help="where to run: sim (default, the embedded simulated cluster), kube (the default target of the "
                          "targets file) or a target name from it")
    run.add_argument("--targets", type=Path, default=Path("drills/targets.yaml"),
                     help="target config file (default: drills/targets.yaml)")
    run.add_argument("--context", help="kubeconfig context; must be the one the target config names")
    run.add_argument("--approve", action="store_true", help="allow drills on a production-like target")
    run.add_argument("--dry-run", action="store_true", help="print every change the drills would make, as diffs; change nothing")
    run.add_argument("--report-dir", default="reports", help="folder for the run's reports (default: reports/)")
    run.add_argument("--no-report", action="store_true", help="do not write reports")
    run.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the markdown reports")
    run.add_argument("--template-dir", type=Path, help="folder with templates overriding the shipped ones")
    run.add_argument("--json", action="store_true", help="print results.json to stdout (progress goes to stderr)")
    run.add_argument("--sim-config", type=Path, help="YAML overriding the simulated cluster's timings (sim target)")
    run.add_argument("--force", action="store_true",
                     help="run even though the target has an unfinished drill in the journal (dangerous)")
    run.add_argument("--journal-dir", type=Path, help="crash journal (default: ~/.local/state/release-drills/journal)")
    run.add_argument("--responders", type=Path, nargs="+", help="scripted responders (sim only): a rehearsal team")
    run.add_argument("--pace", type=float, help="sim only: simulated seconds per real second (1 = real time, for people)")
    run.add_argument("--history", type=Path, help="run history (default: reports/history.sqlite or $DRILLS_HISTORY)")
    run.add_argument("--pushgateway", help="push the run's metrics to this Prometheus Pushgateway URL")
    run.add_argument("--restore-timeout", default="10m", help="how long restore may take before it reports manual repair")
    run.add_argument("-v", "--verbose", action="store_true")
    sch = sub.add_parser("schedule", help="run suites on their schedules: a long-running daemon")
    sch.add_argument("suites", nargs="+", metavar="SUITE")
    sch.add_argument("--target", help="run every suite on this target (sim, kube or a name) instead of its own")
    sch.add_argument("--targets", type=Path, default=Path("drills/targets.yaml"))
    sch.add_argument("--list", action="store_true", help="print the next fire time of each suite and exit")
    sch.add_argument("--run-now", action="store_true",
                     help="run every suite once at start (inside or outside its window), then follow the schedule")
    sch.add_argument("--state-dir", type=Path, default=Path("reports/schedule"), help="job store and lock files")
    sch.add_argument("--report-dir", default="reports")
    sch.add_argument("--history", type=Path, help="run history (default: reports/history.sqlite or $DRILLS_HISTORY)")
    sch.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    sch.add_argument("--webhook", help="POST a JSON summary here when a drill does not pass")
    sch.add_argument("--lock-wait", default="10m", help="how long to wait for a target another runner holds")
    sch.add_argument("--approve", action="store_true", help="allow drills on production-like targets")
    sch.add_argument("--force", action="store_true", help="start even though a target has an unfinished drill (dangerous)")
    sch.add_argument("--journal-dir", type=Path, help="crash journal (default: ~/.local/state/release-drills/journal)")
    sch.add_argument("--sim-config", type=Path)
    sch.add_argument("--lang", choices=("en", "zh"), default="en")
    sch.add_argument("--pace", type=float, help="sim only: simulated seconds per real second")
    sch.add_argument("--control-port", type=int,
                     help="accept POST /runs/RUN-ID/<ack|mitigated|note|abort> here (token: $DRILLS_CONTROL_TOKEN)")
    sch.add_argument("--time-scale", type=float, default=1.0,
                     help="run the scheduler's clock this many times faster than real time (rehearsals, tests)")
    sch.add_argument("-v", "--verbose", action="store_true")
    gd = sub.add_parser("gameday", help="run a facilitated game day: the facilitator's console")
    gd.add_argument("suite", metavar="SUITE", help="a suite (or drill) file")
    gd.add_argument("--target", default="sim")
    gd.add_argument("--targets", type=Path, default=Path("drills/targets.yaml"))
    gd.add_argument("--responders", type=Path, nargs="+", help="scripted responders (sim only), for rehearsals")
    gd.add_argument("--pace", type=float, help="sim only: simulated seconds per real second (default 1: real time)")
    gd.add_argument("--auto", action="store_true", help="start drills back to back (press p to pause)")
    gd.add_argument("--report-dir", default="reports")
    gd.add_argument("--lang", choices=("en", "zh"), default="en")
    gd.add_argument("--approve", action="store_true")
    gd.add_argument("--sim-config", type=Path)
    gd.add_argument("--history", type=Path)
    gd.add_argument("--control-port", type=int,
                    help="also accept POST /runs/RUN-ID/<ack|mitigated|note|abort> here (token: $DRILLS_CONTROL_TOKEN)")
    gd.add_argument("-v", "--verbose", action="store_true")
    rec = sub.add_parser("recover", help="restore targets left by drills whose runner died (the crash journal)")
    rec.add_argument("--target", help="only this target (default: every target with open records)")
    rec.add_argument("--targets", type=Path, default=Path("drills/targets.yaml"))
    rec.add_argument("--journal-dir", type=Path)
    rec.add_argument("--restore-timeout", default="10m")
    rec.add_argument("-v", "--verbose", action="store_true")
    for action, text in (("ack", "acknowledge a running drill (a responder noticed)"),
                         ("mitigated", "declare a running drill's failure mitigated (recovery still needs the machine signals)"),
                         ("note", "add a note to a running drill's timeline")):
        a = sub.add_parser(action, help=text)
        a.add_argument("run_id", metavar="RUN-ID", nargs="?")
        a.add_argument("--by", default=os.environ.get("USER", "someone"), help="who (default: $USER)")
        a.add_argument("--note", default="", help="what to put on the timeline")
        a.add_argument("--list", action="store_true", help="list running drills")
    val = sub.add_parser("validate", help="check drill, suite and target files; exit 2 on any problem")
    val.add_argument("paths", nargs="+", metavar="PATH")
    sch = sub.add_parser("schema", help="print the drill file JSON Schema")
    sch.add_argument("--output", type=Path)
    lst = sub.add_parser("list", help="list drills")
    lst.add_argument("paths", nargs="*", default=["drills"], metavar="PATH")
    reporting_cli.add_subcommands(sub)
    return p


def _sim_target(args: argparse.Namespace) -> Any:
    from runner.targets.sim.config import SimConfig
    from runner.targets.sim.target import SimTarget

    config = SimConfig()
    if args.sim_config is not None:
        config, problems = loader.validate_file(args.sim_config, SimConfig)
        if problems:
            raise DrillDefinitionError(problems)
    if getattr(args, "pace", None) is not None:
        if args.pace < 0:
            raise UsageError("--pace must be 0 (as fast as possible) or more")
        config = config.model_copy(update={"pace": args.pace})
    # the virtual clock starts at the real wall time so that reports carry today's date
    now = SystemClock()
    start = now.wall(now.monotonic()).replace(microsecond=0)
    return SimTarget(config, VirtualClock(start=start))


def _target_config(args: argparse.Namespace) -> tuple[str, Any]:
    """(name, TargetConfig) for --target NAME|kube from the targets file."""
    from runner.targets.config import TargetsFile

    if not args.targets.is_file():
        raise UsageError(f"--target {args.target}: no target config at {args.targets} (see drills/targets.yaml in the README)")
    docs = loader.load_file(args.targets)
    docs.raise_if_problems()
    files = [d.model for d in docs.documents if isinstance(d.model, TargetsFile)]
    if not files:
        raise UsageError(f"{args.targets} has no 'kind: Targets' document")
    targets = {name: cfg for f in files for name, cfg in f.spec.targets.items()}
    name = args.target
    if name == "kube":
        defaults = [f.spec.default for f in files if f.spec.default]
        name = defaults[0] if defaults else (next(iter(targets)) if len(targets) == 1 else "")
        if not name:
            raise UsageError(f"--target kube: {args.targets} names no default target; pick one of {', '.join(targets)}")
    if name not in targets:
        raise UsageError(f"unknown target {name!r}; {args.targets} defines {', '.join(targets)} (or use --target sim)")
    return name, targets[name]


def _make_target(args: argparse.Namespace, drills: list[Any]) -> Any:
    if args.target == "sim":
        if args.context:
            raise UsageError("--context applies to real targets, not --target sim")
        return _sim_target(args)
    from runner import guardrails
    from runner.targets.kube import KubeTarget

    name, cfg = _target_config(args)
    for doc in drills:  # every refusal before anything is touched
        guardrails.check(doc.model, name, cfg, approve=args.approve, context=args.context)
    return KubeTarget(name, cfg, config_path=args.targets.resolve())


def cmd_run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from runner.engine import Engine
    from runner.settings import EngineSettings
    from runner.render import console as rconsole, writer
    from runner.results import run_json

    docs, result = loader.drills_to_run(args.paths)
    result.raise_if_problems()
    if not docs:
        raise UsageError(f"no drills found in {', '.join(args.paths)}")
    if args.template_dir is not None and not args.template_dir.is_dir():
        raise UsageError(f"--template-dir {args.template_dir}: no such folder")
    try:
        restore_timeout = parse_duration(args.restore_timeout).total_seconds()
    except ValueError as exc:
        raise UsageError(f"--restore-timeout: {exc}") from exc
    target = _make_target(args, docs)
    if args.dry_run:
        return _dry_run(target, docs, out)
    journal = _journal_for(args, target, err)
    ui = err if args.json else out
    observer = rconsole.ConsoleObserver(ui)
    extra = list(getattr(target, "drill_observers", lambda: [])())
    inbox, people = _people(args, target)
    engine = Engine(target, [*people, observer, *extra], EngineSettings(restore_timeout=restore_timeout), journal=journal,
                    inbox=inbox)
    wall = SystemClock()
    started = wall.wall(wall.monotonic())
    runs = []
    try:
        for doc in docs:
            runs.append(engine.run(doc.model, doc.where))
    finally:
        observer.close()
        target.close()
    finished = wall.wall(wall.monotonic())
    results = run_json(runs, started, finished, {"name": target.info.name, "kind": target.info.kind,
                                                  "simulated": target.info.simulated, "description": target.info.description})
    folder = None
    if not args.no_report:
        folder = Path(args.report_dir) / f"{started.strftime('%Y%m%d-%H%M%S')}-{writer.safe_name(target.info.name)}"
        writer.write(folder, results, runs, args.lang, args.template_dir)
    sinks = _result_sinks(argparse.Namespace(**{**vars(args), "report_dir": None, "metrics_port": None, "webhook": None}), err)
    try:
        for r in runs:
            sinks.record(r, target.info.name, None, "run", str(folder) if folder else None, started_at=started)
        if args.pushgateway:
            from runner import metrics

            metrics.push(args.pushgateway, sinks.registry, job="release-drills")
    finally:
        sinks.stop()
    rconsole.summary(ui, runs, str(folder) if folder else None, target.info.simulated)
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if any(r.needs_manual_repair for r in runs):
        return EXIT_MANUAL_REPAIR
    return EXIT_OK if all(r.verdict and r.verdict.outcome.value == "passed" for r in runs) else EXIT_NOT_PASSED


def _people(args: argparse.Namespace, target: Any) -> tuple[Any, list[Any]]:
    """The human inbox of a run, the control socket (drills ack), and scripted responders."""
    from runner.control import ControlServer
    from runner.humans import HumanInbox
    from runner.responders import Responders, ScriptedResponders

    inbox = HumanInbox()
    port = getattr(args, "control_port", None)
    people: list[Any] = [ControlServer(inbox, http_port=port, token=os.environ.get("DRILLS_CONTROL_TOKEN"))]
    scripts = []
    for path in getattr(args, "responders", None) or []:
        res = loader.load_file(path)
        res.raise_if_problems()
        scripts += [d.model for d in res.documents if isinstance(d.model, Responders)]
        if not scripts:
            raise UsageError(f"{path}: no 'kind: Responders' document")
    if scripts:
        people.append(ScriptedResponders(scripts, target, inbox))
    return inbox, people


def _journal_for(args: argparse.Namespace, target: Any, err: Console) -> Any:
    """The target's crash journal; refuses a target with unfinished drills unless --force."""
    from runner import journal as jmod

    if target.info.simulated:
        return None
    j = jmod.Journal(getattr(args, "journal_dir", None) or jmod.default_dir(), target.info.name)
    open_entries = j.entries()
    if open_entries:
        lines = "\n  ".join(e.describe() for e in open_entries)
        if not getattr(args, "force", False):
            target.close()
            raise UsageError(f"target {target.info.name} has an unfinished drill; it may still be broken:\n  {lines}\n"
                             f"run: drills recover --target {target.info.name}   (or rerun with --force)")
        err.print(f"[bold red]WARNING: --force: target {target.info.name} has unfinished drills; running anyway:[/]\n  {lines}")
    return j


def cmd_gameday(args: argparse.Namespace, out: Console, err: Console) -> int:
    from runner.engine import Engine
    from runner.render import writer
    from runner.render.gameday import FacilitatorConsole
    from runner.results import run_json

    docs, result = loader.drills_to_run([args.suite])
    result.raise_if_problems()
    if not docs:
        raise UsageError(f"no drills in {args.suite}")
    if args.target == "sim" and args.pace is None:
        args.pace = 1.0  # people take part: real time unless told otherwise
    args.context, args.dry_run = None, False
    target = _make_target(args, docs)
    journal = _journal_for(args, target, err)
    inbox, people = _people(args, target)
    fc = FacilitatorConsole(out, inbox, target.clock)
    extra = list(getattr(target, "drill_observers", lambda: [])())
    engine = Engine(target, [*people, fc, *extra], journal=journal, inbox=inbox)
    wall = SystemClock()
    started = wall.wall(wall.monotonic())
    runs = []
    fc.start()
    try:
        for doc in docs:
            gdspec = doc.model.spec.gameday
            if not fc.wait_to_start(doc.model.metadata.name, gdspec.briefing if gdspec else doc.model.metadata.description,
                                    args.auto):
                break
            runs.append(engine.run(doc.model, doc.where))
    finally:
        fc.stop()
        target.close()
        for p in people:
            if hasattr(p, "close"):
                p.close()
    if not runs:
        return EXIT_OK
    results = run_json(runs, started, wall.wall(wall.monotonic()), {"name": target.info.name, "kind": target.info.kind,
                                                                     "simulated": target.info.simulated})
    folder = Path(args.report_dir) / f"{started.strftime('%Y%m%d-%H%M%S')}-gameday"
    writer.write(folder, results, runs, args.lang)
    from runner.render import console as rconsole

    rconsole.summary(out, runs, str(folder), target.info.simulated)
    sinks = _result_sinks(argparse.Namespace(**{**vars(args), "report_dir": None, "metrics_port": None, "webhook": None}), err)
    try:
        for r in runs:
            sinks.record(r, target.info.name, None, "gameday", str(folder), started_at=started)
    finally:
        sinks.stop()
    if any(r.needs_manual_repair for r in runs):
        return EXIT_MANUAL_REPAIR
    return EXIT_OK if all(r.verdict and r.verdict.outcome.value == "passed" for r in runs) else EXIT_NOT_PASSED


def cmd_human(args: argparse.Namespace, out: Console, err: Console) -> int:
    from runner import control

    if args.list or not args.run_id:
        ids = control.running()
        out.print("\n".join(ids) if ids else "no drill is running", highlight=False)
        return EXIT_OK if args.list else EXIT_BAD_INPUT
    reply = control.send(args.run_id, args.command, args.by, args.note)
    out.print(f"{args.command} recorded on {reply['run']} by {args.by}", highlight=False)
    return EXIT_OK


def cmd_recover(args: argparse.Namespace, out: Console, err: Console) -> int:
    from runner import journal as jmod
    from runner.recover import recover_entry
    from runner.targets.kube import KubeTarget

    root = args.journal_dir or jmod.default_dir()
    names = [args.target] if args.target else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    timeout = _duration_arg("--restore-timeout", args.restore_timeout)
    code, found = EXIT_OK, 0
    for name in names:
        j = jmod.Journal(root, name)
        entries = j.entries()
        if not entries:
            continue
        found += len(entries)
        tname, cfg = _target_config(argparse.Namespace(**{**vars(args), "target": name}))
        target = KubeTarget(tname, cfg, config_path=args.targets.resolve())
        try:
            for entry in entries:
                out.print(f"recovering {entry.describe()} on {name}", highlight=False, soft_wrap=True)
                rec = recover_entry(target, j, entry, timeout)
                r = rec.result
                if r.status.value == "needs-manual-repair":
                    code = EXIT_MANUAL_REPAIR
                    out.print(f"  still different: {'; '.join(r.remaining)}\n  run:", highlight=False, soft_wrap=True)
                    for c in r.manual_commands:
                        out.print(f"    {c}", markup=False, highlight=False, soft_wrap=True)
                else:
                    out.print(f"  {r.status.value}: " + ("; ".join(r.actions) or "already as before the drill"),
                              markup=False, highlight=False, soft_wrap=True)
        finally:
            target.close()
    if not found:
        out.print("nothing to recover: no unfinished drills in the journal", highlight=False)
    return code


def _dry_run(target: Any, docs: list[Any], out: Console) -> int:
    from runner import rollbacks
    from runner.dryrun import DryRunTarget
    from runner.engine import Engine

    code = EXIT_OK
    try:
        for doc in docs:
            dry = DryRunTarget(target)
            run, changes = Engine(dry).plan(doc.model)
            out.print(f"[bold]drill {doc.model.metadata.name}[/] ({doc.where}) on {target.info.name}: dry run, nothing changed")
            if run.aborted or run.error:
                out.print(f"  would stop before injecting: {run.aborted or run.error}", markup=False, soft_wrap=True)
                code = EXIT_NOT_PASSED
                continue
            for ch in changes:
                out.print(f"  would run: {ch.what}", markup=False, soft_wrap=True)
                if ch.diff:
                    out.print(ch.diff, markup=False, highlight=False, soft_wrap=True)
            strategy = rollbacks.get(doc.model.spec.rollback.strategy)
            out.print(f"  then: watch for detection, roll back with {strategy.strategy} ({strategy.summary}), "
                      "wait for recovery, restore and verify the pre-drill state", markup=False, soft_wrap=True)
    finally:
        target.close()
    return code


def cmd_validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    result = loader.load_paths(args.paths)
    result.raise_if_problems()
    kinds = [d.kind for d in result.documents]
    files = len({d.path for d in result.documents})
    out.print(f"ok: {kinds.count('Drill')} drill(s), {kinds.count('Suite')} suite(s), {kinds.count('Targets')} target file(s) "
              f"in {files} file(s)", highlight=False)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, out: Console, err: Console) -> int:
    text = json.dumps(model.drill_json_schema(), indent=2) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: Console, err: Console) -> int:
    result = loader.load_paths(args.paths)
    result.raise_if_problems()
    t = Table(title="drills")
    for col in ("name", "fault", "via", "rollback", "target", "file"):
        t.add_column(col)
    for d in result.drills:
        s = d.model.spec
        tgt = f"app {s.target.application}" if s.target.application else f"release {s.target.release}"
        t.add_row(d.model.metadata.name, s.fault.type, s.fault.via.value, s.rollback.strategy,
                  f"{tgt} ({s.target.namespace})", d.where)
    out.print(t)
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace, out: Console, err: Console) -> int:
    from runner import daemon as dmod
    from runner.clock import ScaledClock
    from runner.locks import FileTargetLock

    suites = []
    for path in args.suites:
        res = loader.load_file(Path(path))
        res.raise_if_problems()
        suites += [d for d in res.documents if d.kind == "Suite"]
    if not suites:
        raise UsageError("no suites (kind: Suite) in " + ", ".join(args.suites))
    unscheduled = [d.model.metadata.name for d in suites if d.model.spec.schedule is None]
    if unscheduled and not args.run_now:
        raise UsageError(f"suite(s) without a schedule: {', '.join(unscheduled)} (add spec.schedule, or use --run-now)")
    lock_wait = _duration_arg("--lock-wait", args.lock_wait)
    clock = ScaledClock(args.time_scale) if args.time_scale != 1.0 else SystemClock()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    for doc in suites:  # guardrails for every drill on its target, before anything runs
        name = args.target or doc.model.spec.target or "sim"
        if name != "sim":
            drills, res = loader.suite_drills(doc)
            res.raise_if_problems()
            tname, cfg = _target_config(argparse.Namespace(**{**vars(args), "target": name}))
            from runner import guardrails

            for drill_doc in drills:
                guardrails.check(drill_doc.model, tname, cfg, approve=args.approve, context=None)

    def make_target(name: str) -> Any:
        return _make_target(argparse.Namespace(**{**vars(args), "target": name, "context": None, "dry_run": False}), [])

    def make_lock(name: str) -> Any:
        if name == "sim":
            return FileTargetLock(args.state_dir / "locks" / f"{name}.lock", clock)
        from runner.locks import LeaseTargetLock
        from runner.targets.kube import api_client_for

        tname, cfg = _target_config(argparse.Namespace(**{**vars(args), "target": name}))
        return LeaseTargetLock(api_client_for(cfg, args.targets.resolve()), f"release-drills-{tname}", cfg.lock_namespace, clock)

    from runner import journal as jmod
    from runner.engine import Engine

    journal_root = args.journal_dir or jmod.default_dir()
    for doc in suites:
        name = args.target or doc.model.spec.target or "sim"
        entries = jmod.Journal(journal_root, name).entries() if name != "sim" else []
        if entries and not args.force:
            raise UsageError(f"target {name} has an unfinished drill ({entries[0].describe()}); "
                             f"run: drills recover --target {name}   (or --force)")

    from runner.control import ControlServer
    from runner.humans import HumanInbox
    from runner.render.console import ConsoleObserver

    inbox = HumanInbox()
    control = ControlServer(inbox, http_port=args.control_port, token=os.environ.get("DRILLS_CONTROL_TOKEN"))
    log_lines = ConsoleObserver(err, live=False)  # a daemon logs plain lines

    def engine_factory(target: Any, observers: Any) -> Engine:
        j = None if target.info.simulated else jmod.Journal(journal_root, target.info.name)
        return Engine(target, [control, log_lines, *observers], journal=j, inbox=inbox)

    sinks = _result_sinks(args, err)
    d = dmod.Daemon(suites, clock, make_target, make_lock, f"sqlite:///{(args.state_dir / 'jobs.sqlite').resolve()}",
                    on_run=[sinks.on_run], on_suite=[sinks.on_suite], target_override=args.target, lock_wait=lock_wait,
                    engine_factory=engine_factory)
    try:
        d.start()
        for line in dmod.list_schedule(d):
            out.print(line, highlight=False)
        if args.list:
            return EXIT_OK

        def on_term(signum: int, frame: object) -> None:
            err.print("SIGTERM: finishing the current drill's restore, then stopping", highlight=False)
            d.stop()
            if d.running:
                raise DrillAborted("SIGTERM")
        signal.signal(signal.SIGTERM, on_term)
        sinks.start()
        if args.run_now:
            for doc in suites:
                if d.stopping.is_set():
                    break
                d.run_suite(doc.model.metadata.name, ignore_window=True)  # an explicit run: the window is for the schedule
        d.run_forever()
    except KeyboardInterrupt:
        err.print("interrupted: stopping", highlight=False)
    finally:
        d.shutdown()
        sinks.stop()
        control.close()
    return EXIT_MANUAL_REPAIR if sinks.needs_repair else EXIT_OK


def _result_sinks(args: argparse.Namespace, err: Console) -> Any:
    from runner import history
    from runner.sinks import ResultSinks

    return ResultSinks(history_path=args.history or history.default_path(),
                       report_dir=Path(args.report_dir) if getattr(args, "report_dir", None) else None,
                       lang=getattr(args, "lang", "en"), metrics_port=getattr(args, "metrics_port", None),
                       webhook=getattr(args, "webhook", None))


def _duration_arg(flag: str, value: str) -> float:
    try:
        return parse_duration(value).total_seconds()
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from exc


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "schema": cmd_schema, "list": cmd_list, "schedule": cmd_schedule,
            "recover": cmd_recover, "gameday": cmd_gameday, "ack": cmd_human, "mitigated": cmd_human, "note": cmd_human}
COMMANDS.update(reporting_cli.COMMANDS)


def _on_sigterm(signum: int, frame: object) -> None:
    # the first SIGTERM aborts the drill (restore runs); later ones must not interrupt the restore
    signal.signal(signal.SIGTERM, _on_second_sigterm)
    raise DrillAborted("SIGTERM")


def _on_second_sigterm(signum: int, frame: object) -> None:
    sys.stderr.write("SIGTERM again: restore in progress; it reports what is left if it cannot finish\n")


def main(argv: Sequence[str] | None = None) -> int:
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    for c in (out, err):
        if not c.is_terminal:
            c.width = max(c.width, 160)
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                            handlers=[RichHandler(console=err, show_path=False)], format="%(message)s", force=True)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return COMMANDS[args.command](args, out, err)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except DrillDefinitionError as exc:
        for p in exc.problems:
            err.print(str(p), markup=False, highlight=False, soft_wrap=True)
        err.print(f"{len(exc.problems)} problem(s) found", highlight=False)
        return EXIT_BAD_INPUT
    except UsageError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except DrillsError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
