"""Hostile input: every file of tests/data/bad/ gives problems as ``file:line:col: field: sentence``,
never a traceback, and ``drills validate`` exits 2 on it.

Each corpus file opens with comment lines that say what a person needs to read:

    # expect: unknown fault 'imagetag'        a substring of some problem (required)
    # line: 15                                the line of the first problem containing it (optional)
    # absent: did you mean 'timezone'          a substring no problem may contain (optional)

Files that cannot carry a comment (binary, latin-1, UTF-16, empty, 2 MiB) have theirs in
tests/data/bad/EXPECT.yaml. Where the loader's message is not yet what a person needs, the file
still states the need and the case is listed in KNOWN_CRASHES or KNOWN_POOR below as a strict
xfail: fixing the loader turns it into an XPASS failure, which is the reminder to delete the entry.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runner import loader
from runner.errors import Problem

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
_HEADER = re.compile(r"^# (expect|line|absent): (.*)$")


@dataclass(frozen=True)
class Case:
    path: Path
    expect: str
    line: int | None
    absent: str | None

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(ROOT))


def _cases() -> list[Case]:
    meta = yaml.safe_load((BAD / "EXPECT.yaml").read_text(encoding="utf-8"))
    out = []
    for path in sorted(BAD.glob("*.yaml")):
        if path.name == "EXPECT.yaml":
            continue
        if path.name in meta:
            m = meta[path.name]
            out.append(Case(path, m["expect"], m.get("line"), m.get("absent")))
            continue
        text = path.read_bytes().decode("utf-8").lstrip("\ufeff")
        fields: dict[str, str] = {}
        for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            m = _HEADER.match(raw)
            if not m:
                break
            fields[m.group(1)] = m.group(2).strip()
        assert "expect" in fields, f"{path.name}: first line must be '# expect: <substring>' (or list it in EXPECT.yaml)"
        out.append(Case(path, fields["expect"], int(fields["line"]) if "line" in fields else None, fields.get("absent")))
    return out


CASES = _cases()
BY_NAME = {c.path.name: c for c in CASES}

# The loader raises instead of reporting (a traceback reaches the user). See the report of the
# "hostile input" issue for the proposed fixes in runner/loader.py and runner/durations.py.
KNOWN_CRASHES: dict[str, type[BaseException]] = {}

# The loader reports something, but not what a person needs (wrong words, wrong line, nothing).
KNOWN_POOR: dict[str, str] = {}


def _said(p: Problem) -> str:
    """What a problem says after ``file:line:col:``."""
    return f"{p.field}: {p.message}" if p.field else p.message


def _lines_in(path: Path) -> int:
    """Lines an editor shows for the file (at least 1)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    return max(1, len(text.splitlines()) + (1 if text.endswith(("\n", "\r")) else 0))


def _param(case: Case, marks: list[pytest.MarkDecorator]) -> object:
    return pytest.param(case, id=case.path.name, marks=marks)


def _never_raises_params() -> list[object]:
    return [_param(c, [pytest.mark.xfail(raises=KNOWN_CRASHES[c.path.name], strict=True, reason="loader crashes")]
                   if c.path.name in KNOWN_CRASHES else []) for c in CASES]


def _message_params() -> list[object]:
    return [_param(c, [pytest.mark.xfail(strict=True, reason=KNOWN_POOR[c.path.name])] if c.path.name in KNOWN_POOR else [])
            for c in CASES]


def test_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 120
    assert {"empty.yaml", "binary.yaml", "latin-1.yaml", "two-mebibytes.yaml"} <= set(BY_NAME)
    assert (BAD / "two-mebibytes.yaml").stat().st_size > 2 * 1024 * 1024
    assert (BAD / "bom-prefixed-unknown-fault.yaml").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (BAD / "crlf-mixed-tabs.yaml").read_bytes()
    assert set(KNOWN_CRASHES) <= set(KNOWN_POOR) <= set(BY_NAME)


@pytest.mark.parametrize("case", _never_raises_params())
def test_loader_never_raises_and_points_inside_the_file(case: Case) -> None:
    for result in (loader.load_file(case.path), loader.load_paths([case.path])):
        for p in result.problems:
            assert p.path == str(case.path), p
            assert 1 <= p.line <= _lines_in(case.path), str(p)
            assert p.column >= 1, str(p)
            assert p.message.strip(), str(p)


@pytest.mark.parametrize("case", _message_params())
def test_problems_say_what_a_person_needs(case: Case) -> None:
    # load_paths is what `drills validate FILE` runs (it adds the duplicate-name check across documents)
    problems = loader.load_paths([case.path]).problems
    texts = [_said(p) for p in problems]  # without the path: the file name must not match by accident
    assert problems, f"{case.path.name}: no problem reported; expected {case.expect!r}"
    matching = [p for p in problems if case.expect in _said(p)]
    assert matching, f"{case.path.name}: expected {case.expect!r} in {texts}"
    if case.line is not None:
        assert matching[0].line == case.line, f"{case.path.name}: expected line {case.line}: {str(matching[0])}"
    if case.absent is not None:
        assert not [t for t in texts if case.absent in t], f"{case.path.name}: {case.absent!r} must not appear: {texts}"


# --- the command line, as a person runs it ------------------------------------------------

SAMPLE = ["unknown-fault.yaml", "binary.yaml", "alias-bomb.yaml", "python-object-apply.yaml", "crlf-mixed-tabs.yaml",
          "suite-missing-drill.yaml", "targets-inline-credentials.yaml", "multidoc-second-bad.yaml",
          "duration-negative.yaml", "two-mebibytes.yaml", "bom-prefixed-unknown-fault.yaml"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _drills_script() -> list[str]:
    script = Path(sys.executable).with_name("drills")
    return [str(script)] if script.exists() else [sys.executable, "-m", "runner.cli"]


@pytest.mark.parametrize("name", SAMPLE)
def test_cli_validate_exits_2_with_file_line_col(name: str) -> None:
    case = BY_NAME[name]
    proc = _cli("validate", case.rel)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    located = re.findall(rf"^{re.escape(case.rel)}:(\d+):(\d+): (.*)$", proc.stderr, flags=re.M)
    assert located, proc.stderr
    hits = [(int(line), msg) for line, _, msg in located if case.expect in msg]
    assert hits, proc.stderr
    if case.line is not None:
        assert hits[0][0] == case.line, proc.stderr


def test_cli_run_refuses_bad_files_before_touching_anything(tmp_path: Path) -> None:
    files = [BY_NAME[n].rel for n in ("unknown-fault.yaml", "rollback-helm-on-git-fault.yaml", "binary.yaml")]
    proc = _cli("run", *files, "--report-dir", str(tmp_path / "reports"), "--journal-dir", str(tmp_path / "journal"),
                "--history", str(tmp_path / "history.sqlite"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for f in files:
        assert re.search(rf"^{re.escape(f)}:\d+:\d+: ", proc.stderr, flags=re.M), proc.stderr
    assert not (tmp_path / "reports").exists()


def test_cli_validate_every_file_that_does_not_crash_the_loader() -> None:
    files = [c for c in CASES if c.path.name not in KNOWN_CRASHES]
    proc = _cli("validate", *[c.rel for c in files])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    silent = [c.path.name for c in files if c.path.name not in KNOWN_POOR
              and not re.search(rf"^{re.escape(c.rel)}:\d+:\d+: ", proc.stderr, flags=re.M)]
    assert not silent, f"no file:line:col problem printed for {silent}"


@pytest.mark.xfail(bool(KNOWN_CRASHES), strict=True, reason=f"the loader crashes on {sorted(KNOWN_CRASHES)}")
def test_drills_validate_whole_folder() -> None:
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", COLUMNS="200")
    proc = subprocess.run([*_drills_script(), "validate", "tests/data/bad/"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == 2
    assert re.search(r"^tests/data/bad/unknown-fault\.yaml:\d+:\d+: ", proc.stderr, flags=re.M)
