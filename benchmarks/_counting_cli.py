"""``python -m runner.cli ...`` with the runner's own HTTP requests counted and its CPU and memory
recorded; used by cost.py as the drill subprocess.

Everything the CLI imports lazily (engine, kube target, kubernetes client) is imported first, so
that "drill" CPU excludes interpreter start-up and imports; both are reported. Every request the
process sends through urllib3 (the kubernetes client's transport) is counted by verb and
resource, retries included. Helm runs as a child process: its CPU is the children's rusage.
Writes a JSON file named by $BENCH_STATS at exit.

usage: BENCH_STATS=out.json python _counting_cli.py run DRILL.yaml --target NAME --targets FILE ...
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

T0 = time.monotonic()
R0 = resource.getrusage(resource.RUSAGE_SELF)

import urllib3  # noqa: E402

import runner.cli  # noqa: E402
import runner.engine  # noqa: E402,F401
import runner.targets.kube  # noqa: E402,F401
import kubernetes.client  # noqa: E402,F401  (imported before the drill: not counted as drill CPU)

COUNTS: Counter[str] = Counter()
_orig = urllib3.connectionpool.HTTPConnectionPool.urlopen


def classify(method: str, url: str) -> str:
    """``LIST pods``, ``WATCH events``, ``PATCH deployments/scale``, ``GET discovery``..."""
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    segs = [s for s in parts.path.split("/") if s]
    # /api/v1/... or /apis/<group>/<version>/...
    rest = segs[2:] if segs[:1] == ["api"] else segs[3:] if segs[:1] == ["apis"] else segs
    if not rest or segs[:1] not in (["api"], ["apis"]):
        return f"{method} discovery"
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    elif rest[0] == "namespaces":
        return f"{method} namespaces"
    resource_ = rest[0]
    named = len(rest) >= 2
    sub = f"/{rest[2]}" if len(rest) >= 3 else ""
    if method == "GET":
        verb = "WATCH" if q.get("watch", [""])[0].lower() in ("true", "1") else ("GET" if named else "LIST")
    else:
        verb = method
    return f"{verb} {resource_}{sub}"


def urlopen(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
    COUNTS[classify(method, url)] += 1
    return _orig(self, method, url, *args, **kwargs)


urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]


def main() -> int:
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    t1 = time.monotonic()
    try:
        rc = runner.cli.main(sys.argv[1:])
    finally:
        r2 = resource.getrusage(resource.RUSAGE_SELF)
        rc_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        t2 = time.monotonic()
        out = {
            "startup_cpu": (r1.ru_utime + r1.ru_stime) - (R0.ru_utime + R0.ru_stime),
            "startup_seconds": t1 - T0,
            "drill_cpu": (r2.ru_utime + r2.ru_stime) - (r1.ru_utime + r1.ru_stime),
            "drill_user": r2.ru_utime - r1.ru_utime, "drill_sys": r2.ru_stime - r1.ru_stime,
            "drill_seconds": t2 - t1,
            "rss_after_imports_kb": r1.ru_maxrss, "peak_rss_kb": r2.ru_maxrss,
            "children_cpu": rc_children.ru_utime + rc_children.ru_stime,
            "requests": dict(COUNTS),
        }
        path = os.environ.get("BENCH_STATS")
        if path:
            with open(path, "w") as f:
                json.dump(out, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
