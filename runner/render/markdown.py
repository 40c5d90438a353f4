"""Markdown retrospectives (one per drill) and the run's ``index.md``, from Jinja2 templates.

Templates ship in the package per language (``templates/en``, ``templates/zh``); a team can
override any of them with ``--template-dir`` (same file names). The context is the drill's
``results.json`` entry plus a few derived views (mermaid chart, review points).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import jinja2

from runner.durations import format_duration, human_seconds

TEMPLATES = Path(__file__).parent / "templates"
LANGS = ("en", "zh")


def environment(lang: str, template_dir: Path | None = None) -> jinja2.Environment:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    paths = ([str(template_dir)] if template_dir else []) + [str(TEMPLATES / lang)]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(paths), autoescape=False, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["secs"] = human_seconds
    env.filters["sentence"] = lambda s: (str(s)[:1].upper() + str(s)[1:]).rstrip(".")
    env.filters["limit"] = lambda s: format_duration(timedelta(seconds=s))
    env.filters["cell"] = lambda s: str(s if s is not None else "—").replace("|", "\\|").replace("\n", " ")
    return env


def _epoch_ms(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def gantt(d: dict[str, Any]) -> list[str]:
    """Mermaid gantt rows (``dateFormat x``: epoch milliseconds) for the drill's phases."""
    inj = _epoch_ms(d["injected_at"])
    if inj is None:
        return []
    rows = []
    det = _epoch_ms(d["detected_at"])
    rec = _epoch_ms(d["recovered_at"])
    rb = d.get("rollback") or {}
    rb_start, rb_end = _epoch_ms(rb.get("started_at")), _epoch_ms(rb.get("finished_at"))
    end = max(x for x in (inj, det, rec, rb_end) if x is not None)
    rows.append("section Fault")
    rows.append(f"fault active : crit, f1, {inj}, {max(rec or end, inj + 1)}")
    rows.append("section Detect")
    rows.append(f"time to detect : d1, {inj}, {max(det, inj + 1)}" if det else f"not detected : crit, d1, {inj}, {max(end, inj + 1)}")
    if rb_start is not None and rb_end is not None:
        rows.append("section Rollback")
        rows.append(f"{rb.get('strategy')} : r1, {rb_start}, {max(rb_end, rb_start + 1)}")
    rows.append("section Recover")
    rows.append(f"time to recover : active, t1, {inj}, {max(rec, inj + 1)}" if rec else f"not recovered : crit, t1, {inj}, {max(end, inj + 1)}")
    return rows


def retrospective(d: dict[str, Any], env: jinja2.Environment) -> str:
    return env.get_template("retrospective.md.j2").render(d=d, gantt=gantt(d))


def index(runs: Sequence[dict[str, Any]], meta: dict[str, Any], env: jinja2.Environment) -> str:
    return env.get_template("index.md.j2").render(drills=runs, meta=meta)
