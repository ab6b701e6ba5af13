"""Every test runs under a pytest-timeout limit, so a hung test fails instead of hanging CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest
from tests.support.render import REPO_ROOT


def test_this_test_carries_the_default_limit(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("timeout")
    if getattr(request.config, "_env_timeout", None):  # an explicit --timeout was given instead
        assert marker is None
    else:
        assert marker is not None and marker.args == (conftest.DEFAULT_TIMEOUT_S,)


def test_a_hung_test_fails_with_a_timeout(tmp_path: Path) -> None:
    # The real hook from tests/conftest.py, with a 2 s default so that the hang ends quickly.
    (tmp_path / "conftest.py").write_text(
        "import tests.conftest as shared\n"
        "shared.DEFAULT_TIMEOUT_S = 2\n"
        "pytest_collection_modifyitems = shared.pytest_collection_modifyitems\n"
    )
    (tmp_path / "test_hang.py").write_text(
        "import time\n\ndef test_hangs():\n    time.sleep(120)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Timeout (>2.0s) from pytest-timeout" in result.stdout
