"""Writes a run's reports into one folder: ``index.md``, one retrospective per drill,
``results.json``, ``junit.xml`` and manifests saved for manual repair. File names come from
drill names, which the model restricts; they are sanitised again here anyway."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from runner.engine import DrillRun
from runner.render import junit, markdown


RESERVED = {"index", "results", "junit"}
"""File names the run itself uses; a drill with such a name gets a suffix."""


def report_file(name: str) -> str:
    """The retrospective's file name for a drill (never one of the run's own files)."""
    base = safe_name(name)
    return f"{base}-drill.md" if base.lower() in RESERVED else f"{base}.md"


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "drill"
    return cleaned[:80]


def write(folder: Path, results: dict[str, Any], runs: Sequence[DrillRun], lang: str = "en",
          template_dir: Path | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    env = markdown.environment(lang, template_dir)
    written = []
    for d, run in zip(results["drills"], runs, strict=True):
        p = folder / report_file(d["name"])
        p.write_text(markdown.retrospective(d, env), encoding="utf-8")
        written.append(p)
        for fname, manifest in run.saved_manifests.items():
            sub = folder / safe_name(d["name"])
            sub.mkdir(exist_ok=True)
            (sub / safe_name(fname)).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "junit.xml").write_text(junit.junit_xml(results["drills"]), encoding="utf-8")
    files = {d["name"]: report_file(d["name"]) for d in results["drills"]}
    (folder / "index.md").write_text(markdown.index(results["drills"], results | {"target": results["target"], "files": files}, env),
                                     encoding="utf-8")
    return written + [folder / "results.json", folder / "junit.xml", folder / "index.md"]
