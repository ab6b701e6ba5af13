"""Fixtures and settings shared by every test of the generator (nothing template-specific)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render, schedule
from tests.support.checks import CRD_SCHEMAS, SHARED
from tests.support.diagnostics import machine_report

# A hung test must fail, not hang CI: a per-test limit (pytest-timeout) unless the command line,
# PYTEST_TIMEOUT or the ini file set one, or the test carries its own @pytest.mark.timeout.
# Generous on purpose: the first test of a dependency set builds its venv, the first container
# test builds the base image; both are cached afterwards.
DEFAULT_TIMEOUT_S = 600
SLOW_TIMEOUT_S = 900


def pytest_configure(config: pytest.Config) -> None:
    schedule.configure(config)  # how `-n 2` shares the tests: tests/support/schedule.py


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if getattr(config, "_env_timeout", None):
        return  # an explicit --timeout / PYTEST_TIMEOUT / ini value wins
    for item in items:
        if item.get_closest_marker("timeout") is None:
            limit = SLOW_TIMEOUT_S if item.get_closest_marker("slow") else DEFAULT_TIMEOUT_S
            item.add_marker(pytest.mark.timeout(limit))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """After a red run, the state of the shared servers (tests/support/diagnostics.py)."""
    if exitstatus == pytest.ExitCode.TESTS_FAILED:
        terminalreporter.section("the machine after the failures")
        for line in machine_report():
            terminalreporter.line(line)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ folder beside the repo (CI puts a copy there)."""
    assert SHARED.is_dir(), f"{SHARED} is missing: shared/ must sit beside the repo clone"
    return SHARED


@pytest.fixture(scope="session")
def shared_schemas(shared_dir: Path) -> Path:
    """The vendored CRD schemas: crds/<group>/<kind>_<version>.json."""
    assert CRD_SCHEMAS.is_dir(), f"{CRD_SCHEMAS} is missing"
    return CRD_SCHEMAS


@pytest.fixture(scope="session", autouse=True)
def render_once_per_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each set of answers is rendered once per run (tests/support/render.py), in a folder that
    the xdist workers share: their base folders sit side by side in the run's own."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    render.use_cache(shared / "renders")
