"""Render a template of THIS working tree with copier, as a user's `copier copy` would.

Within one test run the templates do not change, and copier renders the same answers to the same
files (nothing in the templates depends on the time, the destination or chance). So a run renders
each set of answers once: `use_cache(folder)` (tests/conftest.py, per run, shared by the xdist
workers) keeps a pristine copy of every render, and later renders of the same answers copy it.
Each caller still gets a folder of its own to change as it likes.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

# Generated repos are tested with the interpreter that runs the tests: no other Python is assumed.
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

_cache: Path | None = None


def use_cache(folder: Path | None) -> None:
    """Keep renders of this tree in `folder` for the rest of the run (None: render every time)."""
    global _cache
    _cache = folder


def render(dest: Path, service_type: str, source: Path | None = None, **answers: Any) -> Path:
    """Render `service_type` with `answers` (defaults for the rest) into `dest` and return it.

    The source is this repo's working tree at HEAD plus uncommitted changes (copier includes
    them for a local HEAD), so tests see the templates exactly as they are on disk; `source`
    names another checkout instead (benchmarks compare two versions this way; never cached).
    """
    data = {"service_type": service_type, "python_version": CURRENT_PYTHON, **answers}
    if _cache is None or source is not None:
        return _copy(source or REPO_ROOT, dest, data)
    from filelock import FileLock

    key = hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:20]
    pristine = _cache / key
    _cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(pristine) + ".lock"):  # the other xdist worker may be rendering it
        if not pristine.is_dir():
            partial = _cache / f".{key}.{uuid.uuid4().hex[:8]}"
            try:
                _copy(REPO_ROOT, partial, data)
                partial.rename(pristine)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(pristine, dest, symlinks=True, dirs_exist_ok=True)
    return dest


def _copy(source: Path, dest: Path, data: dict[str, Any]) -> Path:
    from copier import run_copy

    run_copy(
        str(source),
        str(dest),
        data=data,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    return dest
