"""Render a template of THIS working tree with copier, as a user's `copier copy` would."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# Generated repos are tested with the interpreter that runs the tests: no other Python is assumed.
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def render(dest: Path, service_type: str, source: Path | None = None, **answers: Any) -> Path:
    """Render `service_type` with `answers` (defaults for the rest) into `dest` and return it.

    The source is this repo's working tree at HEAD plus uncommitted changes (copier includes
    them for a local HEAD), so tests see the templates exactly as they are on disk; `source`
    names another checkout instead (benchmarks compare two versions this way).
    """
    from copier import run_copy

    data = {"service_type": service_type, "python_version": CURRENT_PYTHON, **answers}
    run_copy(
        str(source or REPO_ROOT),
        str(dest),
        data=data,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    return dest
