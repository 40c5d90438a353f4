"""What does one drill cost the cluster and the machine, with 10, 100 and 1000 other pods in the
drill's namespace?

On the real test control plane (started here in a temp state dir, stopped at the end even on
errors): a Helm release of the sample chart (1 replica) in its own namespace, plus "filler" pods
with a different label selector in the same namespace, so that the runner's namespace-wide
watches (Pods, Events, ReplicaSets, ...) carry them. Each drill runs as a subprocess,
``python -m runner.cli run DRILL --target plane ...`` wrapped by ``_counting_cli.py``.

Per drill:

* API requests: delta of the apiserver's ``apiserver_request_total`` (by verb and resource)
  across the drill, minus the delta over a window of the same length without a drill (the
  controllers', scheduler's and kubelet's background); next to it, the runner's own requests
  counted inside its process (urllib3, retries included; exact, but without helm's) and the
  writes the audit log attributes to the runner's User-Agents (python client and helm);
* runner CPU seconds (``getrusage`` of the subprocess: drill only, start-up+imports, helm
  children) and peak RSS (``ru_maxrss``).

Filler pods: the kubelet stand-in runs a real ``app.py`` process per pod and its Node has the
kubelet's default capacity of 110 pods. So at most ``--max-running`` (default 100) filler pods
run for real; the rest of a count (900 of 1000) are real Pod objects that stay Pending because
their nodeSelector matches no node (unschedulable: the scheduler and its FailedScheduling events
are part of the background). Memory of the app processes is reported.

usage: python benchmarks/cost.py [--runs N] [--out benchmarks/results] [--pods 10 100 1000]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from kubernetes import client as k8s  # noqa: E402

HERE = Path(__file__).resolve().parent
KINDS = {
    "image-tag/api": ({"type": "image-tag", "via": "api", "params": {"tag": "does-not-exist-0000"}},
                      [{"pod-waiting": {"reasons": ["ErrImagePull", "ImagePullBackOff"]}}], "rollout-undo",
                      [{"deployment-available": {}}]),
    "readiness-path/helm": ({"type": "readiness-path", "via": "helm", "params": {"path": "/healthz-wrong"}},
                            [{"event": {"reason": "Unhealthy", "message": "Readiness probe failed"}}], "helm-rollback",
                            [{"deployment-available": {}}]),
}
METRIC = re.compile(r'^(apiserver_request_total|apiserver_response_sizes_sum)\{([^}]*)\}\s+([0-9.e+]+)$')
LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_totals(cp: Any) -> Counter[str]:
    """apiserver_request_total summed by 'VERB resource[/subresource]', plus response bytes as
    'bytes VERB resource' (apiserver_response_sizes_sum)."""
    out: Counter[str] = Counter()
    for line in cp.metrics().splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(2)))
        res = labels.get("resource") or "-"
        if labels.get("subresource"):
            res += "/" + labels["subresource"]
        prefix = "bytes " if m.group(1) == "apiserver_response_sizes_sum" else ""
        out[f"{prefix}{labels.get('verb', '?')} {res}"] += int(float(m.group(3)))
    return out


def delta(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)})


def filler(ns: str, name: str, replicas: int, pending: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "week6-api:1.0.0"}],
                            "terminationGracePeriodSeconds": 5}
    if pending:  # matches no node: stays Pending, no process (the node holds 110 pods at most)
        spec["nodeSelector"] = {"bench.release-drills/never": "true"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "bench": "filler"}}, "spec": spec}}}


def apply_fillers(cp: Any, ns: str, total: int, max_running: int) -> tuple[int, int]:
    running, pending = min(total, max_running), max(0, total - max_running)
    api = C.api_client(cp, "bench-setup/1")
    apps = k8s.AppsV1Api(api)
    try:
        for name, n, pend in (("filler-running", running, False), ("filler-pending", pending, True)):
            try:
                apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": n}}, _preload_content=False)
            except k8s.exceptions.ApiException as exc:
                if exc.status != 404:
                    raise
                apps.create_namespaced_deployment(ns, filler(ns, name, n, pend), _preload_content=False)
    finally:
        api.close()
    return running, pending


def wait_fillers(cp: Any, ns: str, running: int, pending: int, timeout: float = 600.0) -> float:
    """Until every filler pod exists, the running ones are Ready and the others were tried by the
    scheduler; then until the namespace's Events stop growing (5 s quiet, at most 60 s)."""
    api = C.api_client(cp, "bench-setup/1")
    core = k8s.CoreV1Api(api)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            pods = json.loads(core.list_namespaced_pod(ns, label_selector="bench=filler", _preload_content=False).data)["items"]
            ready = sum(1 for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                                for c in (p.get("status") or {}).get("conditions") or [])
                        and not p["metadata"].get("deletionTimestamp"))
            tried = sum(1 for p in pods if p["spec"].get("nodeSelector") and any(
                c.get("type") == "PodScheduled" and c.get("status") == "False" for c in (p.get("status") or {}).get("conditions") or []))
            if len(pods) == running + pending and ready == running and tried == pending:
                break
            time.sleep(2)
        else:
            raise RuntimeError(f"filler pods did not settle in {timeout:.0f} s")
        last, quiet_since, t1 = -1, time.monotonic(), time.monotonic()
        while time.monotonic() - t1 < 60 and time.monotonic() - quiet_since < 5:
            n = len(json.loads(core.list_namespaced_event(ns, _preload_content=False).data)["items"])
            if n != last:
                last, quiet_since = n, time.monotonic()
            time.sleep(1)
    finally:
        api.close()
    return time.monotonic() - t0


def app_processes(cp: Any) -> tuple[int, float]:
    """How many app processes this plane's kubelet stand-in runs (its children), and their summed RSS in MiB."""
    kubelet = cp.processes["fake-kubelet"].pid
    n, rss = 0, 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (d / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(status.get("PPid", "0").strip()) != kubelet:
            continue
        n += 1
        rss += int(status.get("VmRSS", "0 kB").split()[0]) / 1024
    return n, rss


def mem_used_gib() -> float:
    info = {l.split(":")[0]: int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if ":" in l}
    return (info["MemTotal"] - info["MemAvailable"]) / 1024 / 1024


def wait_app_steady(cp: Any, ns: str, timeout: float = 180) -> None:
    api = C.api_client(cp, "bench-setup/1")
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            dep = json.loads(apps.read_namespaced_deployment("week6-api", ns, _preload_content=False).data)
            pods = json.loads(core.list_namespaced_pod(ns, label_selector=C.APP_SELECTOR, _preload_content=False).data)["items"]
            if C.deployment_complete(dep) and len(pods) == dep["spec"]["replicas"]:
                time.sleep(2)
                return
            time.sleep(0.5)
    finally:
        api.close()
    raise RuntimeError("the app did not settle")


def run_drill(cp: Any, state: Path, targets: Path, ns: str, kind: str, tag: str) -> dict[str, Any]:
    fault, detect, rollback, recover = KINDS[kind]
    drill = state / f"cost-{kind.replace('/', '-')}-{tag}.yaml"
    drill.write_text(C.drill_yaml(f"cost-{kind.split('/')[0]}-{tag}", ns, fault, detect, rollback, recover))
    stats = state / f"stats-{tag}.json"
    env = dict(cp.env(), BENCH_STATS=str(stats), PYTHONPATH=str(C.REPO))
    audit = C.Audit(cp)
    audit.refresh()
    since = datetime.now(timezone.utc)
    m0 = request_totals(cp)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, str(HERE / "_counting_cli.py"), "run", str(drill), "--target", "plane",
                        "--targets", str(targets), "--no-report", "--history", str(state / "history.sqlite"),
                        "--journal-dir", str(state / "journal")],
                       capture_output=True, text=True, env=env, cwd=str(state), timeout=900)
    wall = time.monotonic() - t0
    time.sleep(1.0)  # watches closed by the runner are counted when the server ends them
    m1 = request_totals(cp)
    until = datetime.now(timezone.utc)
    drill_delta = delta(m1, m0)
    if p.returncode != 0:
        raise RuntimeError(f"drill exited {p.returncode}:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
    st = json.loads(stats.read_text())
    writes: Counter[str] = Counter()
    for ev in audit.writes(namespace=None, since=since):
        if ev["_at"] > until:
            continue
        ua = ev.get("userAgent") or ""
        if ua.startswith(C.RUNNER_UA_PREFIX) or ua.startswith("helm"):
            ref = ev.get("objectRef") or {}
            res = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            writes[f"{ev['verb']} {res} ({'helm' if ua.startswith('helm') else 'runner'})"] += 1
    # the same length of time without a drill, once the app is steady again
    wait_app_steady(cp, ns)
    b0 = request_totals(cp)
    time.sleep(wall + 1.0)
    b1 = request_totals(cp)
    base = delta(b1, b0)
    net = Counter({k: drill_delta.get(k, 0) - base.get(k, 0) for k in set(drill_delta) | set(base)})
    return {"kind": kind, "wall_seconds": wall, "stats": st, "metrics_delta": dict(drill_delta),
            "baseline_delta": dict(base), "net": {k: v for k, v in net.items() if v},
            "audit_writes": dict(writes), "stdout_tail": p.stdout[-600:]}


def totals(c: dict[str, int], verbs: tuple[str, ...]) -> int:
    return sum(v for k, v in c.items() if k.split(" ", 1)[0] in verbs)


READ = ("GET", "LIST", "WATCH")
WRITE = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1, help="drills per (pod count, kind) (default 1)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--pods", type=int, nargs="*", default=[10, 100, 1000], help="filler pods in the namespace")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--max-running", type=int, default=100,
                    help="filler pods that run a real process; the rest stay Pending (node capacity: 110 pods)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    cp = None
    rows: list[dict[str, Any]] = []
    t_start = time.monotonic()
    mem0 = mem_used_gib()
    try:
        cp = C.start_plane(state)
        ns = C.new_ns("cost")
        C.install_release(cp, ns)
        targets = C.write_targets(state / "targets.yaml", cp, [ns])
        for n in sorted(args.pods):
            running, pending = apply_fillers(cp, ns, n, args.max_running)
            settle = wait_fillers(cp, ns, running, pending)
            procs, rss = app_processes(cp)
            info = {"pods": n, "running": running, "pending": pending, "settle_seconds": settle,
                    "app_processes": procs, "app_rss_mib": rss, "system_mem_used_gib": mem_used_gib(),
                    "system_mem_used_before_plane_gib": mem0}
            print(f"{n} filler pods ({running} running, {pending} pending) settled in {settle:.0f} s; "
                  f"{procs} app processes, {rss:.0f} MiB RSS; system memory in use {info['system_mem_used_gib']:.1f} GiB",
                  flush=True)
            for kind in args.kinds:
                for i in range(1, args.runs + 1):
                    try:
                        wait_app_steady(cp, ns)
                        r = run_drill(cp, state, targets, ns, kind, f"{n}-{i}")
                    except Exception as exc:  # noqa: BLE001 - keep the other measurements
                        traceback.print_exc()
                        r = {"kind": kind, "failed": f"{type(exc).__name__}: {exc}"[:2000]}
                    r.update(info, run=i)
                    rows.append(r)
                    if "failed" in r:
                        print(f"  {kind}: FAILED {r['failed'][:300]}", flush=True)
                        continue
                    s = r["stats"]
                    print(f"  {kind}: {r['wall_seconds']:.1f} s; requests net of background "
                          f"{totals(r['net'], READ)} reads / {totals(r['net'], WRITE)} writes; runner counted "
                          f"{totals(s['requests'], READ)} reads / {totals(s['requests'], WRITE)} writes; CPU drill "
                          f"{s['drill_cpu']:.2f} s + start-up {s['startup_cpu']:.2f} s + helm {s['children_cpu']:.2f} s; "
                          f"peak RSS {s['peak_rss_kb'] / 1024:.0f} MiB", flush=True)
    finally:
        if cp is not None:
            cp.stop()
        shutil.rmtree(state, ignore_errors=True)
    ok = [r for r in rows if "failed" not in r]
    headers = ["pods in ns", "drill", "runs", "wall s", "reads (metrics, net)", "LIST MiB (net)", "runner reads",
               "discovery GETs",
               "runner+helm writes (audit)", "writes caused (metrics, net)", "CPU drill s", "CPU start-up s", "CPU helm s",
               "peak RSS MiB"]
    table_rows = []
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in ok:
        groups.setdefault((r["pods"], r["kind"]), []).append(r)
    for (pods, kind), rs in groups.items():
        def med(f: Any) -> float:
            return C.percentile([float(f(r)) for r in rs], 50)

        def disc(r: dict[str, Any]) -> int:
            return sum(v for k, v in r["stats"]["requests"].items() if k.endswith(" discovery"))
        table_rows.append([
            f"{pods} ({rs[0]['running']} running)", kind, str(len(rs)), f"{med(lambda r: r['wall_seconds']):.1f}",
            f"{med(lambda r: totals(r['net'], READ)):.0f}",
            f"{med(lambda r: sum(v for k, v in r['net'].items() if k.startswith('bytes LIST ')) / 2**20):.2f}",
            f"{med(lambda r: totals(r['stats']['requests'], READ) - disc(r)):.0f}", f"{max(disc(r) for r in rs)}",
            f"{med(lambda r: sum(r['audit_writes'].values())):.0f}", f"{med(lambda r: totals(r['net'], WRITE)):.0f}",
            f"{med(lambda r: r['stats']['drill_cpu']):.2f}", f"{med(lambda r: r['stats']['startup_cpu']):.2f}",
            f"{med(lambda r: r['stats']['children_cpu']):.2f}", f"{med(lambda r: r['stats']['peak_rss_kb'] / 1024):.0f}"])
    print()
    print(C.table(headers, table_rows, "ll" + "r" * (len(headers) - 2)))
    detail_rows = []
    for r in ok:
        if r["run"] != 1:
            continue
        for k in sorted(set(r["stats"]["requests"]) | set(r["net"])):
            if k.startswith("bytes "):
                continue
            detail_rows.append([str(r["pods"]), r["kind"], k, str(r["stats"]["requests"].get(k, 0)), str(r["net"].get(k, 0)),
                                str(r["metrics_delta"].get(k, 0)), str(r["baseline_delta"].get(k, 0))])
    print()
    print("Per verb and resource (run 1): runner-counted; metrics net of background (= drill window - baseline window)")
    print(C.table(["pods", "drill", "request", "runner", "net", "drill window", "baseline"], detail_rows, "lll" + "r" * 4))
    png = chart(ok, args.out / "cost.png")
    C.write_json(args.out / "cost.json", {"machine": C.machine(), "git": C.git_rev(), "seconds": time.monotonic() - t_start,
                                          "max_running": args.max_running, "rows": rows})
    (args.out / "cost.md").write_text(C.table(headers, table_rows, "ll" + "r" * (len(headers) - 2)) + "\n")
    print(f"\nchart: {png}\nresults: {args.out / 'cost.json'}  ({time.monotonic() - t_start:.0f} s)")
    return 0 if len(ok) == len(rows) else 1


def chart(rows: list[dict[str, Any]], path: Path) -> str:
    plt = C.pyplot()
    if plt is None:
        return "matplotlib not installed: no chart"
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for kind in kinds:
        rs = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["pods"])
        xs = [r["pods"] for r in rs]
        axes[0].plot(xs, [sum(v for k, v in r["stats"]["requests"].items() if not k.endswith(" discovery")) for r in rs],
                     marker="o", label=f"{kind}: runner-counted (no discovery)")
        axes[0].plot(xs, [totals(r["net"], READ) for r in rs], marker="x", linestyle="--", label=f"{kind}: reads, metrics net")
        axes[1].plot(xs, [r["stats"]["drill_cpu"] for r in rs], marker="o", label=f"{kind}: drill")
        axes[1].plot(xs, [r["stats"]["drill_cpu"] + r["stats"]["startup_cpu"] + r["stats"]["children_cpu"] for r in rs],
                     marker="x", linestyle="--", label=f"{kind}: + start-up + helm")
        axes[2].plot(xs, [r["stats"]["peak_rss_kb"] / 1024 for r in rs], marker="o", label=kind)
    for ax, title, unit in zip(axes, ("API requests per drill", "runner CPU per drill", "runner peak RSS"),
                               ("requests", "CPU seconds", "MiB")):
        ax.set_xscale("log")
        ax.set_xlabel("other pods in the drill's namespace")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
