"""Virtual environments for generated repos, made with uv and shared by identical dependency sets.

Installing each generated repo into a fresh venv is the slow part of the matrix. A venv is keyed by
the hash of the generated pyproject.toml's dependency tables; the repo itself is not installed
(its code is put on PYTHONPATH by `run_in`), so one venv serves every cell whose dependencies are
the same.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from filelock import FileLock

from .render import REPO_ROOT

VENV_ROOT = Path(os.environ.get("NEWSERVICE_TEST_VENVS", REPO_ROOT / ".cache" / "venvs"))


def _dependency_key(project: Path) -> str:
    data = tomllib.loads((project / "pyproject.toml").read_text())
    proj = data["project"]
    key = repr((sys.version_info[:2], proj.get("dependencies"), proj.get("optional-dependencies")))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def venv_for(project: Path, extras: str = "dev") -> Path:
    """Return a venv (created once per dependency set) holding `project`'s deps and extras."""
    venv = VENV_ROOT / _dependency_key(project)
    marker = venv / ".complete"
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv) + ".lock"):
        if not marker.exists():
            uv = [sys.executable, "-m", "uv"]
            subprocess.run(
                [*uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)],
                check=True,
            )
            env = {**os.environ, "VIRTUAL_ENV": str(venv)}
            # `python -m uv pip` targets the interpreter that ran it, not VIRTUAL_ENV: name it.
            target = ["--python", str(venv / "bin" / "python")]
            subprocess.run(
                # Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on these
                # machines) every test process would otherwise recompile its imports (~2 s each).
                [
                    *uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--compile-bytecode",
                    *target,
                    f"{project}[{extras}]",
                ],
                check=True,
                env=env,
            )
            # The project itself is imported from the rendered folder (PYTHONPATH), not the venv.
            name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
            subprocess.run([*uv, "pip", "uninstall", "--quiet", *target, name], check=True, env=env)
            marker.touch()
    return venv


def run_in(
    project: Path, venv: Path, *args: str, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess[str]:
    """Run a command from `venv`'s bin folder inside `project`, with `project` on PYTHONPATH."""
    env = {**os.environ, **kwargs.pop("env", {})}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONPATH"] = str(project)
    return subprocess.run(
        list(args), cwd=project, env=env, text=True, capture_output=True, timeout=timeout, **kwargs
    )
