"""How fast does the engine get through a large suite on the simulated cluster, and in how much memory?

A suite of ``--drills`` drills (default 1000) with the shapes of tests/drillgen.py (every fault x
rollback x environment of tests/drillgen.py's MATRIX, in turn) runs on ONE
``SimTarget`` with ``runner.engine.Engine``, as ``drills run`` does for a folder or suite (no
console or report observers: the engine and the simulator only). Measured: drills per second
(wall), CPU seconds, simulated seconds covered, outcomes, resident memory (RSS sampled every
100 ms from /proc, and the process's peak ``ru_maxrss``) and, in a second pass with
``--tracemalloc``, the Python heap's peak as tracemalloc sees it (slower; not used for the rate).

usage: python benchmarks/sim_throughput.py [--runs N] [--drills 1000] [--out benchmarks/results] [--tracemalloc]
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TESTS = C.REPO / "tests"
if str(TESTS) not in sys.path:  # drillgen.py: the test suite's drill builder
    sys.path.insert(0, str(TESTS))

from drillgen import MATRIX as SHAPES, drill  # noqa: E402  (the engine test matrix)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler(threading.Thread):
    def __init__(self, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self.stop_ev = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop_ev.wait(self.period):
            self.samples.append((time.monotonic() - self.t0, rss_mib()))


def make_drills(n: int) -> list[Any]:
    out = []
    for i in range(n):
        fault, via, rollback, env = SHAPES[i % len(SHAPES)]
        out.append(drill(fault, via, rollback, env, name=f"d{i:04d}-{fault}-{via}-{rollback}"[:63]))
    return out


def expire_events(sim: Any) -> int:
    """Delete every Event, as the apiserver's --event-ttl (1 h) would between drills an hour apart."""
    from runner.targets.base import ResourceRef

    n = 0
    for ns in ("dev", "stage", "prod", "sandbox", "argocd"):
        for ev in sim.api.list("Event", ns):
            sim.api.delete(ResourceRef("Event", ns, ev["metadata"]["name"]))
            n += 1
    return n


def run_suite(drills: list[Any], trace: bool = False, expire: bool = False) -> dict[str, Any]:
    from runner.clock import VirtualClock
    from runner.engine import Engine
    from runner.targets.sim.config import SimConfig
    from runner.targets.sim.target import SimTarget

    gc.collect()
    rss0 = rss_mib()
    if trace:
        tracemalloc.start()
    t_boot = time.monotonic()
    sim = SimTarget(SimConfig(platform_config=C.REPO / "kind" / "platform-config"), 
                    VirtualClock(start=datetime(2026, 1, 5, 9, tzinfo=timezone.utc)))
    boot = time.monotonic() - t_boot
    engine = Engine(sim)
    sampler = RssSampler()
    sampler.start()
    outcomes: Counter[str] = Counter()
    per_drill: list[tuple[int, float, float]] = []  # (i, elapsed wall, rss)
    cpu0 = time.process_time()
    sim0 = sim.clock.monotonic()
    aborted_why: Counter[str] = Counter()
    expire_seconds = 0.0
    t0 = time.monotonic()
    for i, d in enumerate(drills):
        if expire:
            te = time.monotonic()
            expire_events(sim)
            expire_seconds += time.monotonic() - te
        run = engine.run(d)
        outcome = run.verdict.outcome.value if run.verdict else "none"
        outcomes[outcome] += 1
        if outcome != "passed":
            s = d.spec
            aborted_why[f"{s.fault.type}/{s.fault.via.value}/{s.rollback.strategy}/{s.target.namespace}: {outcome}"
                        + (f" ({run.aborted[:70]})" if run.aborted else "")] += 1
        if i % 10 == 9 or i == len(drills) - 1:
            per_drill.append((i + 1, time.monotonic() - t0, rss_mib()))
    wall = time.monotonic() - t0 - expire_seconds
    cpu = time.process_time() - cpu0
    sampler.stop_ev.set()
    sampler.join()
    out: dict[str, Any] = {
        "drills": len(drills), "wall_seconds": wall, "cpu_seconds": cpu, "drills_per_second": len(drills) / wall,
        "ms_per_drill": wall / len(drills) * 1000, "boot_seconds": boot,
        "simulated_seconds": sim.clock.monotonic() - sim0, "outcomes": dict(outcomes), "not_passed": dict(aborted_why),
        "expire_events": expire, "expire_seconds": expire_seconds,
        "rss_before_mib": rss0, "rss_end_mib": rss_mib(),
        "rss_peak_sampled_mib": max((r for _, r in sampler.samples), default=rss_mib()),
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "curve": per_drill, "rss_samples": sampler.samples[::5],
    }
    if trace:
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["tracemalloc_current_mib"], out["tracemalloc_peak_mib"] = cur / 2**20, peak / 2**20
    return out


def chart(results: list[dict[str, Any]], path: Path) -> str:
    plt = C.pyplot()
    if plt is None:
        return "matplotlib not installed: no chart"
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for j, r in enumerate(results):
        xs = [c[0] for c in r["curve"]]
        rate = [(c[0] - p[0]) / (c[1] - p[1]) if c[1] > p[1] else float("nan")
                for p, c in zip([(0, 0.0, 0.0), *r["curve"][:-1]], r["curve"])]
        label = r.get("variant", f"run {j + 1}")
        axes[0].plot(xs, rate, linewidth=1, label=label)
        axes[1].plot(xs, [c[2] for c in r["curve"]], linewidth=1.2, label=label)
    axes[0].set_title("drills per second (over each block of 10 drills)")
    axes[0].set_xlabel("drills run")
    axes[0].set_ylabel("drills / s")
    axes[1].set_title("resident memory (RSS) of the process")
    axes[1].set_xlabel("drills run")
    axes[1].set_ylabel("MiB")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


VARIANTS = {"as-generated": False, "expire-events": True}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1, help="how many times to run each variant, each on a fresh SimTarget")
    ap.add_argument("--drills", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                    help="as-generated: the suite as is; expire-events: every Event deleted before each drill "
                         "(what --event-ttl does to drills an hour apart; see README: stale Unhealthy events)")
    ap.add_argument("--tracemalloc", action="store_true", help="one more pass (as-generated) under tracemalloc: heap peak")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one pass in this process, JSON to --one-out
    ap.add_argument("--one-out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--one-trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        t = time.monotonic()
        drills = make_drills(args.drills)
        gen = time.monotonic() - t
        r = run_suite(drills, trace=args.one_trace, expire=VARIANTS[args.one])
        r["generate_seconds"] = gen
        C.write_json(args.one_out, r)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    plan = [(v, False) for v in args.variants for _ in range(args.runs)]
    if args.tracemalloc:
        plan.append((args.variants[0], True))
    gen = float("nan")
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        for k, (variant, trace) in enumerate(plan):
            # each pass in a fresh process: its RSS and ru_maxrss are its own
            out = Path(tmp) / f"{k}.json"
            subprocess.run([sys.executable, __file__, "--drills", str(args.drills), "--one", variant, "--one-out", str(out)]
                           + (["--one-trace"] if trace else []), check=True)
            r = json.loads(out.read_text())
            gen = r["generate_seconds"]
            r["variant"] = variant + (" (tracemalloc)" if trace else "")
            results.append(r)
        print(f"{r['variant']}: {r['drills_per_second']:.1f} drills/s ({r['ms_per_drill']:.1f} ms/drill, {r['wall_seconds']:.1f} s "
              f"wall, {r['cpu_seconds']:.1f} s CPU, {r['simulated_seconds'] / 60:.0f} min simulated); RSS "
              f"{r['rss_before_mib']:.0f} -> {r['rss_end_mib']:.0f} MiB (peak {r['rss_peak_sampled_mib']:.0f})"
              + (f", heap peak {r['tracemalloc_peak_mib']:.1f} MiB" if trace else "") + f"; outcomes {r['outcomes']}",
              flush=True)
        for why, n in sorted(r["not_passed"].items(), key=lambda x: -x[1]):
            print(f"    {n:4d} x {why}", flush=True)
    rows = []
    for r in results:
        rows.append([r["variant"], str(r["drills"]), f"{r['drills_per_second']:.1f}", f"{r['ms_per_drill']:.1f}",
                     f"{r['wall_seconds']:.1f}", f"{r['cpu_seconds']:.1f}", f"{r['simulated_seconds'] / 60:.0f}",
                     f"{r['rss_before_mib']:.0f}", f"{r['rss_peak_sampled_mib']:.0f}", f"{r['rss_end_mib']:.0f}",
                     f"{r['tracemalloc_peak_mib']:.1f}" if "tracemalloc_peak_mib" in r else "-",
                     ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))])
    headers = ["variant", "drills", "drills/s", "ms/drill", "wall s", "CPU s", "simulated min", "RSS start MiB",
               "RSS peak MiB", "RSS end MiB", "heap peak MiB", "outcomes"]
    align = "l" + "r" * (len(headers) - 2) + "l"
    print()
    print(f"(drills generated and validated by tests/drillgen.py in {gen:.2f} s per pass, not included)")
    print(C.table(headers, rows, align))
    png = chart(results, args.out / "sim_throughput.png")
    C.write_json(args.out / "sim_throughput.json", {"machine": C.machine(), "git": C.git_rev(), "generate_seconds": gen,
                                                    "results": results})
    (args.out / "sim_throughput.md").write_text(C.table(headers, rows, align) + "\n")
    print(f"\nchart: {png}\nresults: {args.out / 'sim_throughput.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
