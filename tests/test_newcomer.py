"""A new user's first hour: `newservice create --defaults`, then the generated README verbatim.

No answer is pinned here (other tests pin `python_version` to the running interpreter; this one
must not): the defaults are the product. Each repo is installed into a fresh venv made by the
`python3` that ran newservice, with the pip that venv brings (no uv, no upgraded pip), by the
README's own "Develop and test" commands, and `make check` (ruff, mypy, the tests) runs against
the real PostgreSQL and broker on this machine.

One substitution, said here because it is the one thing this test cannot prove: `make up` starts
the dependencies with Docker compose, and no container engine runs compose here, so that line is
left out and the already-running servers on loopback stand in for compose's, through the
`DATABASE_URL` and `BROKER_URL` the README names.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.services import fresh_database, require

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# What `make up` would start, replaced by the real servers here (see the module docstring).
LEFT_OUT = re.compile(r"^make up\b")


def develop_commands(readme: str) -> list[str]:
    """The command lines of the README's "Develop and test" block, comments stripped."""
    match = re.search(r"^## Develop and test\n.*?```sh\n(.*?)```", readme, re.S | re.M)
    assert match, "the generated README has no '## Develop and test' ```sh block"
    lines = [line.split("  #")[0].rstrip() for line in match.group(1).splitlines()]
    return [line for line in lines if line]


def python3_shim(folder: Path) -> Path:
    """A PATH entry whose `python3` is the interpreter that runs newservice (and these tests)."""
    folder.mkdir()
    (folder / "python3").symlink_to(sys.executable)
    return folder


@pytest.mark.parametrize("service_type", ["api", "worker", "cronjob"])
def test_default_service_installs_and_passes_make_check(service_type: str, tmp_path: Path) -> None:
    """Defaults + the README's commands + the same python3: installs, and `make check` is green."""
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = f"{python3_shim(tmp_path / 'bin')}{os.pathsep}{env['PATH']}"
    env["CI"] = "true"  # a service the tests cannot reach fails them instead of skipping
    created = subprocess.run(
        [sys.executable, "-m", "newservice", "create", "--type", service_type, "--defaults"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    (repo,) = work.iterdir()
    answers = yaml.safe_load((repo / ".copier-answers.yml").read_text())
    assert answers["python_version"] == RUNNING_PYTHON  # the Python the user has

    commands = develop_commands((repo / "README.md").read_text())
    assert commands[0] == "python3 -m venv .venv && . .venv/bin/activate", commands
    assert "make install" in commands and commands[-1] == "make check", commands
    assert any(LEFT_OUT.match(line) for line in commands), commands
    script = "\n".join(["set -eux", *(c for c in commands if not LEFT_OUT.match(c))])

    with fresh_database(f"newcomer_{service_type}") as database_url:
        env["DATABASE_URL"] = database_url
        if service_type == "worker":
            env["BROKER_URL"] = require(answers["broker"])
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=repo, env=env, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # The venv really is the running interpreter's, with the pip it brought.
    venv_python = (repo / ".venv" / "bin" / "python3").resolve()
    assert venv_python == Path(sys.executable).resolve(), venv_python
    assert re.search(r"\d+ passed", output), output[-3000:]
    assert not re.search(r"\d+ skipped", output), output[-3000:]
