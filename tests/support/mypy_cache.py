"""mypy's incremental cache for generated repos, seeded from an earlier check.

mypy (strict, with the pydantic plugin) spends most of a cold run analysing the venv's
third-party packages (FastAPI, SQLAlchemy, pydantic, botocore's stubs, ...), largely the same
files for every repo of one service type. Each check gets a private copy of a seed cache that an
earlier clean check left behind: the seed of its own venv, or else one of another venv of the
same service type. mypy then analyses only what differs.

This does not make the check weaker: mypy validates every cache entry against the source it
describes (size and mtime, and a content hash where the path or mtime differs, as it does for a
repo rendered into a new folder or a package installed in another venv), re-checks what changed
and everything that depends on it, and discards entries made with other options or another mypy
version. The check's own copy is thrown away, so concurrent checks (xdist) never share files.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from .venv import VENV_ROOT

SEEDS = VENV_ROOT.parent / "mypy-seeds"


class SeededCache:
    """A private mypy cache for one check (`env` points mypy at it), copied from a seed.

    `keep()` after a clean run makes this cache the seed of its venv if there is none yet.
    """

    def __init__(self, venv: Path, service_type: str) -> None:
        self._folder = SEEDS / service_type
        self._seed = self._folder / venv.name
        self._tmp = Path(tempfile.mkdtemp(prefix="mypy-cache-"))
        self._cache = self._tmp / "cache"
        self.env = {"MYPY_CACHE_DIR": str(self._cache)}

    def __enter__(self) -> SeededCache:
        seed = self._seed if self._seed.is_dir() else self._another()
        if seed is not None:
            shutil.copytree(seed, self._cache, symlinks=True)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _another(self) -> Path | None:
        """The newest seed of the same service type (another venv), if any."""
        if not self._folder.is_dir():
            return None
        seeds = [p for p in self._folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return max(seeds, key=lambda p: p.stat().st_mtime, default=None)

    def keep(self) -> None:
        if self._seed.is_dir() or not self._cache.is_dir():
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        partial = self._folder / f".{self._seed.name}.{uuid.uuid4().hex[:8]}"
        shutil.copytree(self._cache, partial, symlinks=True)
        try:
            partial.rename(self._seed)  # atomic: a concurrent check may have saved one first
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
