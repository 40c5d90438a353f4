"""Shared fixtures: a virtual clock at a fixed epoch, a seeded simulated cluster, an engine.

Tests never sleep: time is the virtual clock's, advanced by the simulated target.
Control-plane tests (tests/controlplane) are marked ``controlplane`` and run in .ci/run; tests that
need a real kind cluster with Docker are marked ``kind`` and only run with ``--with-kind``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from runner.clock import VirtualClock
from runner.engine import Engine
from runner.targets.sim.config import SimConfig
from runner.targets.sim.target import SimTarget

from drillgen import EPOCH, ROOT


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--with-kind", action="store_true", help="run tests that need a kind cluster (Docker)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--with-kind"):
        return
    skip = pytest.mark.skip(reason="needs a kind cluster: pass --with-kind")
    for item in items:
        if "kind" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=EPOCH)


@pytest.fixture
def sim(clock: VirtualClock) -> SimTarget:
    return SimTarget(SimConfig(seed=7, platform_config=ROOT / "kind" / "platform-config"), clock)


@pytest.fixture
def engine(sim: SimTarget) -> Engine:
    counter = iter(range(1, 10_000))
    return Engine(sim, run_ids=lambda name: f"{name}-{next(counter):04d}")


@pytest.fixture
def root() -> Iterator[Path]:
    yield ROOT
