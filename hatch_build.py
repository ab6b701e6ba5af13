"""Build hook: the wheel and the sdist carry every released template version as a git bundle.

From a git checkout the bundle is built from releases.toml (newservice/history.py; the commits
must be in the clone: a full clone, as CI's). An sdist has no .git, so the sdist carries the
bundle it was built with and the wheel made from it reuses that file. An editable install needs
no bundle: it builds one from the checkout on first use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SDIST_BUNDLE = "releases.bundle"  # where an sdist keeps it (beside releases.toml)
WHEEL_BUNDLE = "newservice/_template/releases.bundle"


class ReleaseBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return
        root = Path(self.root)
        if _is_checkout(root):
            bundle = root / "build" / "newservice" / SDIST_BUNDLE
            _build(root, bundle)
        else:
            bundle = root / SDIST_BUNDLE
            if not bundle.is_file():
                raise RuntimeError(
                    f"{root} is neither a git checkout nor an sdist with {SDIST_BUNDLE}: the "
                    "released template versions cannot be bundled"
                )
        target = WHEEL_BUNDLE if self.target_name == "wheel" else SDIST_BUNDLE
        build_data["force_include"][str(bundle)] = target


def _is_checkout(root: Path) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0 and Path(proc.stdout.strip()).resolve() == root.resolve()


def _build(root: Path, bundle: Path) -> None:
    sys.path.insert(0, str(root / "generator"))
    try:
        from newservice.history import build_bundle
        from newservice.releases import RECORD, read_record
    finally:
        sys.path.pop(0)
    releases = [(str(r.version), r.commit) for r in read_record(root / RECORD)]
    build_bundle(root, releases, bundle)
