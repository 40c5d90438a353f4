"""Coverage-guided fuzzing of the loader with atheris (libFuzzer for Python). Run by hand, not by pytest.

    pip install atheris
    mkdir -p /tmp/drills-fuzz && python tests/fuzz/fuzz_loader.py /tmp/drills-fuzz drills drills/suites tests/data/bad

The first folder receives the inputs libFuzzer finds interesting (keep it out of the repository);
the others are read-only seeds. Add ``-atheris_runs=N`` to stop after N inputs, ``-max_len=65536``
for larger inputs. A crash is any exception other than the loader reporting problems; the input
is written to ``crash-<sha1>`` in the current folder. Set ``DRILLS_FUZZ_SKIP_KNOWN=1`` to keep
going past the crashes already listed in tests/test_hostile_input.py (RecursionError on deep
nesting, OverflowError on huge durations) while those are being fixed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    import yaml  # noqa: F401  (instrumented so that coverage guides through the YAML parser too)

    from runner import loader

KNOWN: tuple[type[BaseException], ...] = (RecursionError, OverflowError) if os.environ.get("DRILLS_FUZZ_SKIP_KNOWN") else ()
PATH = str(Path(__file__).resolve().parents[2] / "drills" / "suites" / "fuzz.yaml")
"""Where the input claims to live: a suite's relative drill paths then resolve against drills/."""


def test_one_input(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # load_file reports this itself before any parsing; nothing to fuzz here
    try:
        result = loader.load_text(text, PATH)
    except KNOWN:
        return
    lines = len(text.splitlines()) + 1
    for p in result.problems:
        if not (1 <= p.line <= lines and p.column >= 1 and p.message):
            raise AssertionError(f"problem outside the input ({lines} lines): {p}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
