"""The ``drills`` command line. ``main(argv) -> exit code``; the only place that maps errors to
exit codes and builds the console.

Exit codes: 0 every drill passed; 1 any did not; 2 bad input or usage; 3 a target was left
needing manual repair (the output says exactly what to run).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from runner import loader, model
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
    run.add_argument("--restore-timeout", default="10m", help="how long restore may take before it reports manual repair")
    run.add_argument("-v", "--verbose", action="store_true")
    val = sub.add_parser("validate", help="check drill, suite and target files; exit 2 on any problem")
    val.add_argument("paths", nargs="+", metavar="PATH")
    sch = sub.add_parser("schema", help="print the drill file JSON Schema")
    sch.add_argument("--output", type=Path)
    lst = sub.add_parser("list", help="list drills")
    lst.add_argument("paths", nargs="*", default=["drills"], metavar="PATH")
    return p


def _sim_target(args: argparse.Namespace) -> Any:
    from runner.targets.sim.config import SimConfig
    from runner.targets.sim.target import SimTarget

    config = SimConfig()
    if args.sim_config is not None:
        config, problems = loader.validate_file(args.sim_config, SimConfig)
        if problems:
            raise DrillDefinitionError(problems)
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
    ui = err if args.json else out
    observer = rconsole.ConsoleObserver(ui)
    engine = Engine(target, [observer], EngineSettings(restore_timeout=restore_timeout))
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
    rconsole.summary(ui, runs, str(folder) if folder else None, target.info.simulated)
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if any(r.needs_manual_repair for r in runs):
        return EXIT_MANUAL_REPAIR
    return EXIT_OK if all(r.verdict and r.verdict.outcome.value == "passed" for r in runs) else EXIT_NOT_PASSED


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


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "schema": cmd_schema, "list": cmd_list}


def _on_sigterm(signum: int, frame: object) -> None:
    raise DrillAborted("SIGTERM")


def main(argv: Sequence[str] | None = None) -> int:
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    for c in (out, err):
        if not c.is_terminal:
            c.width = max(c.width, 120)
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
