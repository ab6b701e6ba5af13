"""Backstage's own catalog model (npm @backstage/catalog-model), run with the machine's Node.js.

tests/node/package.json pins it; its node_modules is installed by .ci/install.sh, or here on
first use (under a file lock: parallel test workers share the folder).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from filelock import FileLock

NODE_TOOLS = Path(__file__).resolve().parents[1] / "node"


def _installed() -> Path:
    node_modules = NODE_TOOLS / "node_modules"
    with FileLock(str(NODE_TOOLS / ".install.lock")):
        if not (node_modules / "@backstage" / "catalog-model").is_dir():
            npm = shutil.which("npm")
            assert npm, (
                "npm is needed for the Backstage catalog checks (.ci/install.sh installs it)"
            )
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=NODE_TOOLS,
                check=True,
                timeout=300,
            )
    return node_modules


def validate_catalog(*files: Path) -> list[dict[str, Any]]:
    """Each file's verdict from the catalog's ingestion policies and the Component kind's schema:
    {"file", "ok", "error", "sourceLocation": {"type", "target"}}."""
    _installed()
    node = shutil.which("node")
    assert node, "node is needed for the Backstage catalog checks"
    result = subprocess.run(
        [node, str(NODE_TOOLS / "validate-catalog.mjs"), *map(str, files)],
        cwd=NODE_TOOLS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdicts = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(verdicts) == len(files), result.stdout + result.stderr
    assert result.returncode == (0 if all(v["ok"] for v in verdicts) else 1), result.stderr
    return verdicts
