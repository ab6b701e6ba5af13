"""The generator's own code passes the strict tooling it asks of the services it generates."""

from __future__ import annotations

import subprocess
import sys

from tests.support.render import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


class TestOwnCode:
    def test_ruff_lint_is_clean(self) -> None:
        """ruff finds nothing in the generator, the tests and the benchmarks."""
        result = _run("ruff", "check", ".")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_ruff_format_is_clean(self) -> None:
        """Every Python file is formatted as ruff formats it."""
        result = _run("ruff", "format", "--check", ".")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_mypy_strict_is_clean(self) -> None:
        """The generator package type-checks under mypy --strict (config in pyproject.toml)."""
        result = _run("mypy")
        assert result.returncode == 0, result.stdout + result.stderr
