"""The `python_version` answer: its default is a Python the user has; the code's floor is fixed.

The generated code supports Python 3.11 and newer whatever the answer (`python_floor`); the answer
chooses only the image's and CI's Python. `newservice create` offers the running interpreter when
it is one of the choices, because a newcomer's next step is the generated README with that same
`python3`; plain copier cannot know it and falls back to the newest choice.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from newservice.create import create_service
from newservice.questions import running_python

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
REPO_ROOT = Path(__file__).resolve().parents[1]


class TestRunningPythonDefault:
    def test_the_running_interpreter_when_it_is_a_choice(self) -> None:
        """A choice equal to the running X.Y is the default."""
        assert running_python({"choices": ["3.9", RUNNING, "3.99"], "default": "3.99"}) == RUNNING

    def test_the_newest_choice_otherwise_compared_as_versions(self) -> None:
        """Without the running Python among them, the newest choice wins (3.10 is after 3.9)."""
        spec = {"choices": ["3.9", "3.10"], "default": "3.9"}
        assert running_python(spec, running="2.7") == "3.10"

    def test_choices_given_as_a_mapping(self) -> None:
        """copier.yml may label choices; their values are what count."""
        spec = {"choices": {f"Python {RUNNING}": RUNNING, "Python 3.99": "3.99"}}
        assert running_python(spec) == RUNNING

    def test_no_choices_keeps_the_declared_default(self) -> None:
        assert running_python({"default": "3.12"}) == "3.12"


@pytest.mark.parametrize("service_type", ["api", "worker", "cronjob"])
def test_defaults_record_the_running_python_and_the_floor(
    service_type: str, tmp_path: Path
) -> None:
    """`--defaults` gives the running Python to the image and CI; the code keeps its 3.11 floor."""
    result = create_service({"service_type": service_type}, tmp_path / "svc", defaults=True)
    repo = result.destination
    assert yaml.safe_load((repo / ".copier-answers.yml").read_text())["python_version"] == RUNNING
    assert f"python:{RUNNING}-slim" in (repo / "Dockerfile").read_text()
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.11"
    assert project["tool"]["ruff"]["target-version"] == "py311"
    assert project["tool"]["mypy"]["python_version"] == "3.11"
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python"] == sorted({"3.11", RUNNING})


def test_another_python_version_changes_only_the_image_and_ci(tmp_path: Path) -> None:
    """python_version=3.13: image and CI on 3.13, tests on 3.11 and 3.13, the floor unchanged."""
    given = {"service_type": "api", "python_version": "3.13"}
    repo = create_service(given, tmp_path / "svc", defaults=True).destination
    assert "python:3.13-slim" in (repo / "Dockerfile").read_text()
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.11"
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "ci.yml").read_text())
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.11", "3.13"]


def test_plain_copier_defaults_to_the_newest_choice() -> None:
    """copier.yml's own default (what `copier copy --defaults` takes) is the newest choice."""
    spec = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())["python_version"]
    assert spec["default"] == max(spec["choices"], key=lambda v: tuple(map(int, v.split("."))))
