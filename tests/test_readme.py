"""The README tells the truth: its quick start works, its test command is CI's, its table too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
README = (REPO_ROOT / "README.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def quick_start_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", section("Quick start"), re.S)
    assert block, "the quick start has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def ci_test_command() -> str:
    """The line of .ci/run that runs pytest (CI's test command)."""
    lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    found = [
        line.strip() for line in lines if "-m pytest" in line and not line.lstrip().startswith("#")
    ]
    assert len(found) == 1, found
    return found[0]


def copier_questions() -> dict:
    spec = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    return {k: v for k, v in spec.items() if not k.startswith("_") and v.get("when") is not False}


class TestQuickStart:
    def test_exactly_two_commands(self) -> None:
        """One command installs and creates, one installs and tests."""
        commands = quick_start_commands()
        assert len(commands) == 2, commands
        assert "newservice create" in commands[0]

    def test_the_test_command_is_what_ci_runs(self) -> None:
        """README's test command and .ci/run's are the same string."""
        assert quick_start_commands()[1] == ci_test_command()
        assert ci_test_command() == "python3 -m pip install -e '.[test]' && python3 -m pytest -n 2"

    def test_install_and_create_works_from_a_fresh_venv(self, tmp_path: Path) -> None:
        """`pip install .` then `newservice create --defaults`, in a fresh venv (not editable):
        the wheel's bundled templates become an updatable, tagged source."""
        venv = tmp_path / "venv"
        uv = [sys.executable, "-m", "uv"]
        subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        # `python -m uv pip` targets the interpreter that runs it unless told: name the venv.
        python = ["--python", str(venv / "bin" / "python")]
        subprocess.run(
            [*uv, "pip", "install", "--quiet", *python, str(REPO_ROOT)], check=True, timeout=600
        )
        work = tmp_path / "work"
        work.mkdir()
        cache = tmp_path / "cache"
        run_env = {
            **os.environ,
            "NEWSERVICE_CACHE_DIR": str(cache),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        }
        run_env.pop("PYTHONPATH", None)
        proc = subprocess.run(
            [str(venv / "bin" / "newservice"), "create", "--defaults"],
            cwd=work,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        answers = yaml.safe_load((work / "orders" / ".copier-answers.yml").read_text())
        version = subprocess.run(
            [str(venv / "bin" / "newservice"), "--version"],
            capture_output=True,
            text=True,
            env=run_env,
            check=True,
        ).stdout.split()[-1]
        # The release's tag when the templates are that release (releases.toml), else the first
        # post-release tag of a fresh cache (templates changed since the last release).
        assert answers["_commit"] in {f"v{version}", f"v{version}.post1"}
        assert answers["_src_path"] == str(cache / "template")


class TestQuestionsTable:
    def test_every_question_is_documented_with_its_default(self) -> None:
        """The table lists exactly the questions of copier.yml; plain defaults match."""
        rows = re.findall(r"^\| `(\w+)` \| (.*?) \| (.*?) \|", section("The questions"), re.M)
        documented = {name: default for name, default, _ in rows}
        questions = copier_questions()
        assert list(documented) == list(questions)
        for name, spec in questions.items():
            default = spec.get("default")
            if isinstance(default, bool):
                default = str(default).lower()  # as YAML and the answers file write it
            if default is not None and "{{" not in str(default):
                assert f"`{default}`" in documented[name], (name, default, documented[name])
        # "(advanced)" in the 'asked for' column marks exactly the questions behind `advanced`.
        marked = {name for name, _, asked in rows if "(advanced)" in asked}
        assert marked == {n for n, spec in questions.items() if "advanced" in str(spec.get("ask"))}

    def test_the_templates_section_names_each_template(self) -> None:
        """One line per template in '## The templates'."""
        text = section("The templates")
        for kind in ("api", "worker", "cronjob"):
            assert re.search(rf"^- \*\*{kind}\*\*", text, re.M), kind
