"""Find the generated repositories under some folders and read what they say about themselves.

A generated repo is a folder holding `.copier-answers.yml` (copier's answers file). The walk
does not descend into a repo once found, nor into .git, virtualenvs or node_modules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANSWERS_FILE = ".copier-answers.yml"
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".cache"}
# The answers that say what a service is made of, in the order a table shows them; an answer
# that is absent or "none" is left out.
KEY_ANSWERS = ("database", "broker", "events", "cache", "schedule")


@dataclass
class RepoFacts:
    """What a generated repo records, and the state of its work tree."""

    path: Path
    answers: dict[str, Any] = field(default_factory=dict)
    is_git: bool = False
    dirty: bool = False
    error: str | None = None

    @property
    def service_type(self) -> str | None:
        value = self.answers.get("service_type")
        return str(value) if value is not None else None

    @property
    def source(self) -> str | None:
        value = self.answers.get("_src_path")
        return str(value) if value else None

    @property
    def commit(self) -> str | None:
        value = self.answers.get("_commit")
        return str(value) if value else None

    def key_answers(self) -> dict[str, str]:
        return {
            name: str(self.answers[name])
            for name in KEY_ANSWERS
            if self.answers.get(name) not in (None, "", "none")
        }


def find_repos(folders: Iterable[Path]) -> list[Path]:
    """Every folder under `folders` (themselves included) that holds an answers file, sorted."""
    found: set[Path] = set()
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            if ANSWERS_FILE in files:
                found.add(Path(root).absolute())
                dirs.clear()
                continue
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
    return sorted(found)


def read_facts(path: Path) -> RepoFacts:
    """The answers and work-tree state of the repo at `path` (errors recorded, never raised)."""
    import yaml

    from ..git import git

    facts = RepoFacts(path)
    try:
        data = yaml.safe_load((path / ANSWERS_FILE).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        facts.error = f"{ANSWERS_FILE} cannot be read: {error}"
        return facts
    if not isinstance(data, dict):
        facts.error = f"{ANSWERS_FILE} is not a mapping of answers"
        return facts
    facts.answers = data
    status = git("status", "--porcelain", cwd=path, check=False, timeout=60)
    inside = git("rev-parse", "--is-inside-work-tree", cwd=path, check=False).strip()
    facts.is_git = inside == "true"
    facts.dirty = facts.is_git and bool(status.strip())
    if not facts.is_git:
        facts.error = "not a git repository (copier update needs its history)"
    elif not facts.source or not facts.commit:
        facts.error = f"{ANSWERS_FILE} records no _src_path and _commit"
    return facts
